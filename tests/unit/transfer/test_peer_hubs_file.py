"""The peer hubs file: each peer's endpoints and this hub's private key there, and who may send cases here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from hub.transfer_peer import PeerConfigError, load_peer_hubs


def key_file(tmp_path: Path, *, private: bool = True, kid: str = "hub-a-1") -> str:
    key = ECKey.generate_key("P-384", private=True, parameters={"kid": kid})
    path = tmp_path / f"key-{'private' if private else 'public'}.json"
    path.write_text(json.dumps(key.as_dict(private=private)))
    return str(path)


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(data))
    return str(path)


def peer(tmp_path: Path, **overrides: object) -> dict[str, object]:
    return {"fhir_base": "https://b.se/fhir/", "token_url": "https://b.se/auth/token", "client_id": "hub-a",
            "key_file": key_file(tmp_path), **overrides}


def test_load__reads_peers_and_accepted_senders(tmp_path: Path) -> None:
    hubs = load_peer_hubs(write(tmp_path, {"peers": {"syd": peer(tmp_path)}, "accept_from": ["hub-syd"]}))

    syd = hubs.peers["syd"]
    assert syd.fhir_base == "https://b.se/fhir" and syd.algorithm == "ES384" and syd.key.kid == "hub-a-1"
    assert hubs.accept_from == frozenset({"hub-syd"})


@pytest.mark.parametrize(("change", "message"), [
    ({"token_url": ""}, "missing token_url"),
    ({"colour": "red"}, "unknown colour"),
    ({"key_file": "/nowhere/key.json"}, "key_file"),
])
def test_load__names_what_is_wrong_with_a_peer(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(PeerConfigError, match=message):
        load_peer_hubs(write(tmp_path, {"peers": {"syd": peer(tmp_path, **change)}}))


def test_load__refuses_a_public_key_since_it_cannot_sign(tmp_path: Path) -> None:
    public = key_file(tmp_path, private=False)
    data = {"peers": {"syd": peer(tmp_path, key_file=public)}}

    with pytest.raises(PeerConfigError, match="private JWK"):
        load_peer_hubs(write(tmp_path, data))


def test_load__refuses_unknown_top_level_keys(tmp_path: Path) -> None:
    with pytest.raises(PeerConfigError, match="'peers' and 'accept_from' only"):
        load_peer_hubs(write(tmp_path, {"peer": {}}))
