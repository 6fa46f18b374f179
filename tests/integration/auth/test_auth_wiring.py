"""The wiring: production refuses shortcuts by name; a database-backed server runs a whole login."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from adapters.idp.smart import StaticDirectory
from adapters.idp.smart.one_time_sql import SqlOneTimeStore, one_time_entries
from adapters.idp.tokens import KeyRing, generate_private_jwk
from adapters.idp.tokens.refresh_sql import SqlRefreshTokenStore, refresh_tokens
from hub.auth import mount_auth
from hub.auth.wiring import build_auth_services

from .conftest import APP_CB, FHIR_BASE, TOLVAN, Clock, Hub, authorize_params, log_in, pkce, token


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "production mode needs INGANG_BASE_URL, INGANG_TOKEN_KEYS_FILE, INGANG_TOKEN_SUBJECT_SECRET"),
    ({"fhir_base_url": "http://hub.example.se/fhir", "keys_file": "k.json", "subject_secret": "x" * 32},
     "INGANG_BASE_URL must be https in production mode"),
    ({"fhir_base_url": FHIR_BASE, "keys_file": "k.json", "subject_secret": "x" * 32},
     "production mode needs real login backends"),
])
def test_build_auth_services__production_refuses_each_shortcut_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        build_auth_services(mode="production", **{"fhir_base_url": "", **kwargs})


def test_build_auth_services__development_needs_nothing_configured() -> None:
    services = build_auth_services(fhir_base_url="", mode="development")
    assert services.settings.fhir_base_url == "http://127.0.0.1:8000/fhir"
    assert services.settings.issuer == "http://127.0.0.1:8000"
    assert set(services.logins) == {"citizen", "clinician"}


def test_build_auth_services__a_bad_clients_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"client_id": "a"}]}))
    with pytest.raises(SystemExit, match=r"INGANG_CLIENTS_FILE: .*clients\.json: client 'a': the authorization_code"):
        build_auth_services(fhir_base_url=FHIR_BASE, mode="development", clients_file=str(path))


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """Return an authorization server built by the wiring over a database, keys and clients files."""
    url = f"sqlite:///{tmp_path / 'hub.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = create_engine(url)
    for table in (refresh_tokens, one_time_entries):
        table.create(engine, checkfirst=True)
    keys_file, clients_file = tmp_path / "keys.json", tmp_path / "clients.yaml"
    keys_file.write_text(json.dumps({"keys": [generate_private_jwk("RS256", kid="hub-2025")]}))
    clients_file.write_text(f"clients:\n  - client_id: triage-app\n    redirect_uris: [{APP_CB}]\n"
                            "    scope: launch/patient patient/*.rs offline_access\n")
    services = build_auth_services(fhir_base_url=FHIR_BASE, mode="development", engine=engine,
                                   keys_file=str(keys_file), clients_file=str(clients_file),
                                   subject_secret="s" * 32,
                                   directory=StaticDirectory(patients={TOLVAN.person_id: "tolvan"}))
    assert isinstance(services.refresh_tokens, SqlRefreshTokenStore)
    assert isinstance(services.one_time, SqlOneTimeStore)
    clock = Clock()
    services.clock = clock
    app = FastAPI()
    mount_auth(app, services)
    with TestClient(app, base_url="https://hub.example.se", follow_redirects=False) as client:
        yield Hub(client, services, clock, backend_key=KeyRing.generate().signing_key)
    engine.dispose()


def test_wiring__a_standalone_launch_and_refresh_rotation_run_over_the_database(sql_hub: Hub) -> None:
    verifier, challenge = pkce()
    back = log_in(sql_hub, authorize_params(scope="launch/patient patient/*.rs offline_access", challenge=challenge),
                  TOLVAN)
    first = token(sql_hub, {"grant_type": "authorization_code", "code": back["code"], "code_verifier": verifier,
                            "redirect_uri": APP_CB, "client_id": "triage-app"}).json()
    assert first["patient"] == "tolvan"
    ctx = sql_hub.services.tokens.verify_access_token(first["access_token"], now=sql_hub.clock.now)
    assert ctx.principal == TOLVAN
    assert sql_hub.client.get("/auth/jwks").json()["keys"][0]["kid"] == "hub-2025"
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "triage-app"}
    second = token(sql_hub, form).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert token(sql_hub, form).json()["error"] == "invalid_grant"
    form["refresh_token"] = second["refresh_token"]
    assert token(sql_hub, form).json()["error_description"] == "The refresh token was revoked"
