"""The key ring: one signing key, several verifying keys, a public JWKS, and a strict key file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from adapters.idp.tokens import KeyConfigError, KeyRing, generate_private_jwk


def test_jwks__publishes_every_verification_key_and_no_private_part() -> None:
    ring = KeyRing.from_jwks({"keys": [generate_private_jwk("ES256", kid="a"), generate_private_jwk("RS256", kid="b")]})
    jwks = ring.jwks()
    assert [(k["kid"], k["alg"], k["use"]) for k in jwks["keys"]] == [("a", "ES256", "sig"), ("b", "RS256", "sig")]
    assert not any(private in key for key in jwks["keys"] for private in ("d", "p", "q", "dp", "dq", "qi"))
    assert ring.signing_kid == "a"


def test_from_jwks__signs_with_the_named_key() -> None:
    ring = KeyRing.from_jwks({"keys": [generate_private_jwk(kid="a"), generate_private_jwk(kid="b")],
                              "signing_kid": "b"})
    assert ring.signing_kid == "b" and set(ring.verification_keys) == {"a", "b"}


def test_generate_private_jwk__names_the_key_by_its_thumbprint() -> None:
    jwk = generate_private_jwk()
    assert jwk["kid"] == ECKey.import_key(jwk).thumbprint()


@pytest.mark.parametrize(("document", "message"), [
    ({"keys": []}, "needs a non-empty 'keys' list"),
    ({"keys": [{k: v for k, v in generate_private_jwk(kid="a").items() if k != "d"}]}, "no key has a private part"),
    ({"keys": [generate_private_jwk(kid="a")], "signing_kid": "z"}, "signing_kid 'z' is not among the keys"),
    ({"keys": [generate_private_jwk(kid="a"), generate_private_jwk(kid="a")]}, "two keys share the kid 'a'"),
    ({"keys": [{**generate_private_jwk(kid="a"), "alg": "ES384"}]}, "says alg 'ES384'; the hub uses it with ES256"),
    ({"keys": [{k: v for k, v in generate_private_jwk().items() if k != "kid"}]}, "every key needs a 'kid'"),
    ({"keys": [{**OctKey.generate_key(256).as_dict(), "kid": "h"}]}, "kty 'oct' is not EC or RSA"),
    ({"keys": [{**ECKey.generate_key("P-384", private=True).as_dict(private=True), "kid": "p"}]},
     "the hub signs only with P-256 or RSA keys"),
])
def test_from_jwks__refuses_a_key_file_it_should_not_sign_with(document: dict, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message.replace("(", r"\(")):
        KeyRing.from_jwks(document)


def test_from_jwks__refuses_an_rsa_key_shorter_than_2048_bits() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        short = RSAKey.import_key(rsa.generate_private_key(65537, 1024)).as_dict(private=True)
    with pytest.raises(KeyConfigError, match="is RSA 1024; use at least 2048"):
        KeyRing.from_jwks({"keys": [{**short, "kid": "r"}]})


def test_load__names_the_file_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("[]")
    with pytest.raises(KeyConfigError, match=r"keys\.json: the key file must hold a JSON object"):
        KeyRing.load(path)
    path.write_text(json.dumps({"keys": [generate_private_jwk(kid="k1")]}))
    assert KeyRing.load(path).signing_kid == "k1"
    with pytest.raises(KeyConfigError, match="cannot read the key file"):
        KeyRing.load(tmp_path / "missing.json")
