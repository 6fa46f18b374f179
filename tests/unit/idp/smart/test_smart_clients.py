"""The client registry: what a clients file may say, and what it is refused for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from smart_fixtures import SECRET, backend_key

from adapters.idp.smart import ClientConfigError, client_from_config, load_client_registry

PUBLIC_JWK = backend_key().as_dict(private=False)


def test_load_client_registry__reads_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "clients.yaml").write_text(
        "clients:\n"
        "  - client_id: triage-app\n"
        "    name: Triage\n"
        "    redirect_uris: [https://app.example/cb]\n"
        "    scope: openid fhirUser launch/patient patient/*.rs\n"
        "    login: citizen\n")
    (tmp_path / "clients.json").write_text(json.dumps({"clients": [
        {"client_id": "journal-vg", "auth_method": "private_key_jwt", "region": "VG",
         "jwks": {"keys": [PUBLIC_JWK]}, "scope": "system/*.rs"}]}))
    app = load_client_registry(tmp_path / "clients.yaml").get("triage-app")
    assert app is not None and app.is_public and app.login == "citizen"
    assert app.grant_types == ("authorization_code", "refresh_token")
    system = load_client_registry(tmp_path / "clients.json").get("journal-vg")
    assert system is not None and system.grant_types == ("client_credentials",) and system.region == "VG"


def test_client_from_config__keeps_only_a_digest_of_the_secret() -> None:
    client = client_from_config({"client_id": "c", "auth_method": "client_secret_basic", "client_secret": SECRET,
                                 "redirect_uris": ["https://c.example/cb"]})
    assert SECRET not in repr(client) and client.check_secret(SECRET) and not client.check_secret("x")


@pytest.mark.parametrize(("entry", "message"), [
    ({}, "every client needs a non-empty 'client_id'"),
    ({"client_id": "a", "auth_method": "magic"}, "auth_method must be one of"),
    ({"client_id": "a"}, "the authorization_code grant needs redirect_uris"),
    ({"client_id": "a", "redirect_uris": ["http://app.example/cb"]}, "must use https"),
    ({"client_id": "a", "redirect_uris": ["https://app.example/cb#x"]}, "without a fragment"),
    ({"client_id": "a", "redirect_uris": ["https://a/cb"], "colour": "red"}, "unknown field\\(s\\) colour"),
    ({"client_id": "a", "auth_method": "client_secret_basic", "redirect_uris": ["https://a/cb"]},
     "client_secret_basic needs client_secret"),
    ({"client_id": "a", "auth_method": "private_key_jwt", "grant_types": ["client_credentials"], "region": "VG"},
     "private_key_jwt needs a jwks"),
    ({"client_id": "a", "auth_method": "private_key_jwt", "jwks": {"keys": [backend_key().as_dict(private=True)]},
      "region": "VG"}, "the jwks holds a private key"),
    ({"client_id": "a", "auth_method": "private_key_jwt", "jwks": {"keys": [PUBLIC_JWK]}},
     "a backend service needs the 'region'"),
    ({"client_id": "a", "grant_types": ["client_credentials"]}, "client_credentials needs auth_method private_key_jwt"),
    ({"client_id": "a", "redirect_uris": ["https://a/cb"], "scope": "patient/*.rc"}, "has permissions 'rc'"),
    ({"client_id": "a", "redirect_uris": ["https://a/cb"], "login": "admin"}, "login must be citizen or clinician"),
])
def test_client_from_config__refuses_a_registration_it_cannot_honour(entry: dict, message: str) -> None:
    with pytest.raises(ClientConfigError, match=message):
        client_from_config(entry)


def test_load_client_registry__names_the_file_and_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    entry = {"client_id": "a", "redirect_uris": ["https://a/cb"]}
    path.write_text(json.dumps({"clients": [entry, entry]}))
    with pytest.raises(ClientConfigError, match=r"clients\.json: client 'a' is registered twice"):
        load_client_registry(path)
    path.write_text(json.dumps([entry]))
    with pytest.raises(ClientConfigError, match="needs a top-level 'clients' list"):
        load_client_registry(path)


def test_readme_clients_example__loads_as_documented(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Apps and systems that get tokens"):]
    start = section.index("```yaml\n") + len("```yaml\n")
    block = section[start:section.index("\n```", start)]
    (tmp_path / "clients.yaml").write_text(block, encoding="utf-8")
    registry = load_client_registry(tmp_path / "clients.yaml")
    app, system = registry.get("journalvy"), registry.get("journal-syd")
    assert app is not None and app.commission_purposes == ("Vård och behandling",) and app.login == "clinician"
    assert app.check_secret("byt-ut-mig")
    assert system is not None and system.region == "SE2321000000-SYD"
    assert system.grant_types == ("client_credentials",)


def test_commission_purposes__a_lone_string_is_one_purpose_and_a_bad_value_is_refused() -> None:
    base = {"client_id": "admin", "redirect_uris": ["https://admin.example/cb"], "login": "clinician"}
    assert client_from_config({**base, "commission_purposes": "Vård och behandling"}).commission_purposes == (
        "Vård och behandling",)
    with pytest.raises(ClientConfigError, match="commission_purposes"):
        client_from_config({**base, "commission_purposes": [1, 2]})
