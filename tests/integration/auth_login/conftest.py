"""The whole hub (create_app over a SQLite file) logging people in through a real OpenID provider.

The provider is the Node `oidc-provider` of tests/integration/idp, with the dev IdP's people. The
hub's login backends come from `login_backends_from_env`, given the variables a region would
set. The hub runs in a TestClient at http://127.0.0.1:8080, the origin the provider's registered
redirect URI names, and a `Browser` plays the person: it follows the hub's redirect to the
provider over real HTTP, logs in there non-interactively by login_hint, and brings the answer
back to the hub, as a browser would. Without node and npm these tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from adapters.idp.dev import demo_directory
from adapters.idp.smart import AuthServices, LoginBackend, s256
from adapters.idp.tokens.access import AccessContext
from hub.auth import wiring
from hub.auth.logins import close_login_backends, login_backends_from_env
from hub.settings import Settings
from tests.integration.idp.op_process import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    RunningProvider,
    start_provider,
)
from tests.integration.idp.op_process import authorize as provider_login

HUB = REDIRECT_URI.removesuffix("/auth/callback")
FHIR_BASE = f"{HUB}/fhir"
CITIZEN_APP = "symptom-app"
CITIZEN_APP_CB = "http://localhost:5173/callback"
CLINICIAN_APP = "journal-app"
CLINICIAN_APP_CB = "http://localhost:5174/callback"
CITIZEN_SCOPE = "openid fhirUser patient/*.rs offline_access"
CLINICIAN_SCOPE = "openid fhirUser user/*.rs offline_access"


# An account for Erik Berg (P002) as the Inera IdP answers after he chose his Vårdcentralen
# commission there: the choice as top-level claims, beside the list of all his commissions.
CHOSE_IN_IDP = "SE2321000000-P002-chose-vc-norr"


def _accounts() -> dict[str, Any]:
    accounts: dict[str, Any] = demo_directory().op_accounts()
    erik = accounts["SE2321000000-P002"]
    chosen = next(c for c in erik["commissions"] if c["commissionHsaId"] == "SE2321000000-P002-vc-norr")
    return {**accounts, CHOSE_IN_IDP: {**erik, **chosen}}


@pytest.fixture(scope="session")
def openid_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProvider]:
    """Run the test OpenID provider with the dev IdP's people (and one IdP choice) as its accounts."""
    provider = start_provider(tmp_path_factory.mktemp("login-op"), _accounts())
    yield provider
    provider.stop()


def region_environment(issuer: str) -> dict[str, str]:
    """Return the variables a region sets for a BankID broker and the Inera IdP (here one test provider)."""
    env: dict[str, str] = {}
    for who in ("CITIZEN", "CLINICIAN"):
        env |= {f"INGANG_{who}_OIDC_ISSUER": issuer, f"INGANG_{who}_OIDC_CLIENT_ID": CLIENT_ID,
                f"INGANG_{who}_OIDC_CLIENT_SECRET": CLIENT_SECRET}
    return env


def _clients_file(path: Path) -> Path:
    path.write_text(json.dumps({"clients": [
        {"client_id": CITIZEN_APP, "name": "Symptomkollen", "redirect_uris": [CITIZEN_APP_CB], "login": "citizen",
         "scope": "openid fhirUser launch/patient patient/*.rs offline_access"},
        {"client_id": CLINICIAN_APP, "name": "Journalvy", "redirect_uris": [CLINICIAN_APP_CB], "login": "clinician",
         "scope": CLINICIAN_SCOPE},
    ]}), encoding="utf-8")
    return path


@dataclass
class RunningHub:
    """The hub behind a TestClient, its auth services and the login backends it was given."""

    client: TestClient
    auth: AuthServices
    logins: dict[str, LoginBackend]

    def verify(self, access_token: str) -> AccessContext:
        """Verify an access token the way the FHIR API does, and return what it says."""
        return self.auth.tokens.verify_access_token(access_token, now=datetime.now(UTC))


@pytest.fixture(scope="module")
def hub(openid_provider: RunningProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """Return the hub built by create_app, with the login backends the region's variables give."""
    from hub.app import create_app

    logins = login_backends_from_env(region_environment(openid_provider.issuer), issuer_base_url=HUB)
    assert logins is not None
    original = wiring.build_auth_services

    def build_with_logins(**kwargs: Any) -> AuthServices:
        # create_app does not take login backends yet: hand ours to the wiring it calls.
        return original(**{**kwargs, "logins": logins})

    workdir = tmp_path_factory.mktemp("hub")
    settings = Settings(database_url=f"sqlite:///{workdir / 'hub.db'}", base_url=FHIR_BASE, demo_data=False,
                        clients_file=str(_clients_file(workdir / "clients.json")), log_level="warning")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wiring, "build_auth_services", build_with_logins)
        app = create_app(settings)
    with TestClient(app, base_url=HUB, follow_redirects=False) as client:
        yield RunningHub(client=client, auth=app.state.auth, logins=logins)
    close_login_backends(logins)


def query_of(url: str) -> dict[str, str]:
    """Return a URL's query parameters as a flat dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def with_login_hint(url: str, login_hint: str) -> str:
    """Add the account to log in as: what the person would do at the provider's login page."""
    return f"{url}&login_hint={login_hint}"


@dataclass
class Authorization:
    """One app authorization: its request, the PKCE verifier, and what came back to the app."""

    params: dict[str, str]
    verifier: str
    back: dict[str, str]


class Browser:
    """Play an app and its user: /authorize at the hub, the login at the provider, back to the hub."""

    def __init__(self, hub: RunningHub, provider: RunningProvider) -> None:
        self.hub, self.provider = hub, provider

    def authorize_params(self, client_id: str, redirect_uri: str, scope: str, challenge: str) -> dict[str, str]:
        """Return a SMART standalone-launch authorization request with PKCE S256."""
        return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
                "aud": FHIR_BASE, "state": secrets.token_urlsafe(12), "code_challenge": challenge,
                "code_challenge_method": "S256"}

    def to_provider(self, params: dict[str, str]) -> str:
        """Ask the hub to authorize; return the provider URL the hub sends the browser to."""
        start = self.hub.client.get("/auth/authorize", params=params)
        assert start.status_code == 302, start.text
        location = str(start.headers["location"])
        assert location.startswith(self.provider.issuer + "/"), location
        return location

    def back_to_app(self, provider_answer: dict[str, str], redirect_uri: str) -> dict[str, str]:
        """Bring the provider's answer to the hub's callback; return what the hub sends the app."""
        back = self.hub.client.get("/auth/callback", params=provider_answer)
        assert back.status_code == 302, back.text
        assert back.headers["location"].startswith(redirect_uri + "?"), back.headers["location"]
        return query_of(back.headers["location"])

    def log_in(self, login_hint: str, *, client_id: str = CITIZEN_APP, redirect_uri: str = CITIZEN_APP_CB,
               scope: str = CITIZEN_SCOPE) -> Authorization:
        """Run the whole authorization for the account login_hint names; return what the app got."""
        verifier = secrets.token_urlsafe(48)
        params = self.authorize_params(client_id, redirect_uri, scope, s256(verifier))
        answer = provider_login(with_login_hint(self.to_provider(params), login_hint))
        return Authorization(params, verifier, self.back_to_app(answer, redirect_uri))

    def token(self, form: dict[str, str]) -> Any:
        """POST a form to the hub's token endpoint; return the response."""
        return self.hub.client.post("/auth/token", data=form)

    def redeem(self, authorization: Authorization, verifier: str | None = None) -> Any:
        """Exchange the app's code for tokens, with its PKCE verifier (or another)."""
        return self.token({"grant_type": "authorization_code", "code": authorization.back["code"],
                           "code_verifier": verifier or authorization.verifier,
                           "redirect_uri": authorization.params["redirect_uri"],
                           "client_id": authorization.params["client_id"]})


@pytest.fixture
def browser(hub: RunningHub, openid_provider: RunningProvider) -> Browser:
    """Return a browser for the hub and the provider."""
    return Browser(hub, openid_provider)
