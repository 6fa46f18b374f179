"""A minimal app with only the SMART authorization server mounted, in memory, with a settable clock.

The tests drive it as an app, an EHR and a backend service would: through HTTP, following the
redirects by hand (the app's redirect URI is not served here), with the dev login standing in
for BankID and SITHS.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey, Key
from starlette.testclient import TestClient

from adapters.idp.smart import (
    JWT_BEARER,
    AuthServices,
    AuthSettings,
    DevLoginBackend,
    InMemoryClientRegistry,
    InMemoryOneTimeStore,
    StaticDirectory,
    client_from_config,
    s256,
)
from adapters.idp.smart.services import DEV_LOGIN_PATH
from adapters.idp.tokens import AccessTokens, InMemoryRefreshTokenStore, KeyRing, principal_to_claim
from cases.principals import Citizen, Clinician, Commission, Principal
from hub.auth import mount_auth

HUB = "https://hub.example.se"
FHIR_BASE = f"{HUB}/fhir"
TOKEN_URL = f"{HUB}/auth/token"
APP_CB = "https://app.example/cb"
EHR_APP_CB = "https://journalvy.example/cb"

TOLVAN = Citizen("191212121212", given_name="Tolvan", family_name="Tolvansson")
DORIS = Clinician("SE2321000016-1003", Commission("SE2321000016-9001", "SE2321000016-15CQ", "SE2321000016-0001"),
                  given_name="Doris", profession="Läkare")
SVEN = Clinician("SE2321000016-1004", Commission("SE2321000016-9002", "SE2321000016-15CQ", "SE2321000016-0001"))


class Clock:
    """A clock the tests move forward."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Hub:
    """The test client and the parts the tests look into."""

    client: TestClient
    services: AuthServices
    clock: Clock
    backend_key: Key


def _registry(backend_key: Key) -> InMemoryClientRegistry:
    return InMemoryClientRegistry([
        client_from_config({"client_id": "triage-app", "name": "Triage", "redirect_uris": [APP_CB], "login": "citizen",
                            "scope": "openid fhirUser launch/patient patient/*.rs patient/QuestionnaireResponse.cu "
                                     "offline_access"}),
        client_from_config({"client_id": "journalvy", "name": "Journalvy", "redirect_uris": [EHR_APP_CB],
                            "auth_method": "client_secret_basic", "client_secret": "s3cret-journalvy",
                            "scope": "openid fhirUser launch launch/patient user/*.rs patient/*.rs offline_access"}),
        client_from_config({"client_id": "journal-vg", "auth_method": "private_key_jwt", "region": "VG",
                            "jwks": {"keys": [backend_key.as_dict(private=False)]},
                            "scope": "system/*.rs system/Task.cu"}),
    ])


@pytest.fixture
def hub() -> Iterator[Hub]:
    """Return a fresh authorization server behind a TestClient."""
    clock = Clock()
    backend_key = ECKey.generate_key("P-384", private=True, parameters={"kid": "vg-2025"})
    settings = AuthSettings(fhir_base_url=FHIR_BASE, subject_secret=b"test-subject-secret-32-bytes....")
    services = AuthServices(
        settings=settings,
        tokens=AccessTokens(KeyRing.generate(), issuer=settings.issuer, audience=FHIR_BASE),
        refresh_tokens=InMemoryRefreshTokenStore(),
        clients=_registry(backend_key),
        one_time=InMemoryOneTimeStore(),
        logins={"citizen": DevLoginBackend(page_url=settings.url(DEV_LOGIN_PATH), mode="development"),
                "clinician": DevLoginBackend(page_url=settings.url(DEV_LOGIN_PATH), mode="development")},
        directory=StaticDirectory(patients={TOLVAN.person_id: "tolvan", "201712122389": "lilla-tolvan"},
                                  users={TOLVAN.person_id: "Patient/tolvan", DORIS.employee_hsa_id: "Practitioner/doris"}),
        clock=clock,
    )
    app = FastAPI()
    mount_auth(app, services)
    with TestClient(app, base_url=HUB, follow_redirects=False) as client:
        yield Hub(client, services, clock, backend_key)


def pkce() -> tuple[str, str]:
    """Return a PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def query_of(url: str) -> dict[str, str]:
    """Return a URL's query parameters as a flat dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize_params(client_id: str = "triage-app", redirect_uri: str = APP_CB, scope: str = "", challenge: str = "",
                     **extra: str) -> dict[str, str]:
    """Return a well-formed authorization request; override any part."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "aud": FHIR_BASE,
              "state": secrets.token_urlsafe(8), "scope": scope or "openid fhirUser launch/patient patient/*.rs",
              "code_challenge": challenge or pkce()[1], "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v != "-"}


def log_in(hub: Hub, params: dict[str, str], principal: Principal) -> dict[str, str]:
    """Run /authorize, the dev login and the callback; return the app's redirect query (code or error)."""
    start = hub.client.get("/auth/authorize", params=params)
    assert start.status_code == 302, start.text
    assert start.headers["location"].startswith(f"{HUB}{DEV_LOGIN_PATH}?")
    back = hub.client.get("/auth/callback", params={"principal": json.dumps(principal_to_claim(principal))})
    assert back.status_code == 302, back.text
    assert back.headers["location"].startswith(params["redirect_uri"])
    return query_of(back.headers["location"])


def token(hub: Hub, form: dict[str, str], auth: tuple[str, str] | None = None) -> Any:
    """POST to the token endpoint; return the response."""
    return hub.client.post("/auth/token", data=form, auth=auth)


def client_assertion(key: Key, *, client_id: str = "journal-vg", aud: str = TOKEN_URL, jti: str | None = None,
                     now: datetime | None = None, lifetime: timedelta = timedelta(minutes=4)) -> dict[str, str]:
    """Return the form fields of a SMART Backend Services client assertion."""
    issued = now or datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": jti or secrets.token_hex(8),
              "exp": int((issued + lifetime).timestamp())}
    signed = jwt.encode({"alg": "ES384", "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=["ES384"])
    return {"client_assertion_type": JWT_BEARER, "client_assertion": signed}


def system_token(hub: Hub, scope: str = "system/Patient.rs system/Encounter.rs") -> str:
    """Get a backend-services access token for the regional system journal-vg."""
    response = token(hub, {"grant_type": "client_credentials", "scope": scope,
                           **client_assertion(hub.backend_key, now=hub.clock.now)})
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access
