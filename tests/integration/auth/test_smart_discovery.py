"""Discovery: the SMART configuration, OIDC configuration and JWKS an app fetches first."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from adapters.idp.smart import (
    AuthServices,
    DevLoginBackend,
    DevLoginRefused,
    InMemoryClientRegistry,
    InMemoryOneTimeStore,
)
from adapters.idp.tokens import AccessTokens, InMemoryRefreshTokenStore, KeyRing
from hub.auth import AuthSettings, mount_auth

from .conftest import FHIR_BASE, HUB, Hub


@pytest.mark.parametrize("path", ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"])
def test_smart_configuration__describes_the_server_per_smart_app_launch_2(hub: Hub, path: str) -> None:
    response = hub.client.get(path)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    config = response.json()
    assert config["issuer"] == HUB
    assert config["jwks_uri"] == f"{HUB}/auth/jwks"
    assert config["authorization_endpoint"] == f"{HUB}/auth/authorize"
    assert config["token_endpoint"] == f"{HUB}/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "client_secret_basic"]
    assert set(config["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert config["response_types_supported"] == ["code"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "fhirUser", "launch", "launch/patient", "offline_access"} <= set(config["scopes_supported"])
    assert {"launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
            "client-confidential-asymmetric", "context-ehr-patient", "context-ehr-encounter",
            "context-standalone-patient", "permission-v2", "permission-patient", "permission-user",
            "sso-openid-connect"} <= set(config["capabilities"])


def test_smart_configuration__wins_over_a_fhir_catch_all_mounted_first() -> None:
    app = FastAPI()

    @app.get("/fhir/{path:path}")
    def fhir(path: str) -> dict[str, str]:
        return {"resourceType": "OperationOutcome"}

    settings = AuthSettings(fhir_base_url=FHIR_BASE, subject_secret=b"0123456789abcdef")
    services = AuthServices(settings, AccessTokens(KeyRing.generate(), issuer=HUB, audience=FHIR_BASE),
                            InMemoryRefreshTokenStore(), InMemoryClientRegistry(), InMemoryOneTimeStore(), logins={})
    mount_auth(app, services)
    with TestClient(app) as client:
        assert client.get("/fhir/.well-known/smart-configuration").json()["issuer"] == HUB


def test_jwks__serves_the_public_signing_key(hub: Hub) -> None:
    keys = hub.client.get("/auth/jwks").json()["keys"]
    assert [k["kid"] for k in keys] == [hub.services.tokens.keys.signing_kid]
    assert "d" not in keys[0] and keys[0]["alg"] == "ES256"


def test_openid_configuration__points_at_the_same_endpoints_and_keys(hub: Hub) -> None:
    config = hub.client.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == HUB and config["jwks_uri"] == f"{HUB}/auth/jwks"
    assert config["subject_types_supported"] == ["pairwise"]


def test_mount_auth__refuses_a_dev_login_in_production_mode(hub: Hub) -> None:
    production = AuthSettings(fhir_base_url=FHIR_BASE, subject_secret=b"0123456789abcdef", mode="production")
    dev = hub.services.logins["citizen"]
    services = AuthServices(production, hub.services.tokens, hub.services.refresh_tokens,
                                  hub.services.clients, hub.services.one_time, logins={"citizen": dev})
    with pytest.raises(DevLoginRefused, match="production mode"):
        mount_auth(FastAPI(), services)
    with pytest.raises(DevLoginRefused, match="refuses to run in production mode"):
        DevLoginBackend(page_url=f"{HUB}/auth/dev/login", mode="production")
