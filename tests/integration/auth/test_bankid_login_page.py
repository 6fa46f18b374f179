"""BankID run by the region itself: the citizen's login page against the local BankID server, end to end.

The authorization server is mounted with `BankIdBrowserLogin` over the real client, talking
mutual TLS to tests/fixtures/bankid/server.py in its own process; the browser is a TestClient
that follows the page as a citizen would: /authorize → the BankID page (QR code, app link) →
status polls with each hintCode's message → the callback → a code → a token for the citizen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from adapters.idp.bankid import HttpBankIdClient, OrderScript
from adapters.idp.bankid.browser import BankIdBrowserLogin
from adapters.idp.bankid.messages import failed_message, pending_message
from adapters.idp.smart import AuthServices, DevLoginBackend, InMemoryOneTimeStore
from adapters.idp.smart.services import DEV_LOGIN_PATH
from adapters.idp.tokens import AccessTokens, InMemoryRefreshTokenStore, KeyRing
from hub.auth import mount_auth
from hub.auth.bankid_pages import BANKID_PAGE_PATH
from tests.fixtures.bankid.certs import make_pki
from tests.fixtures.bankid.harness import ServerBackend, ServerProcess, running_server

from .conftest import (
    APP_CB,
    FHIR_BASE,
    HUB,
    TOLVAN,
    Clock,
    Hub,
    _registry,
    authorize_params,
    pkce,
    query_of,
    token,
)

pytestmark = pytest.mark.slow
CITIZEN_IP = "192.0.2.10"


@pytest.fixture(scope="module")
def bankid_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Start one local BankID server process for this module."""
    directory = tmp_path_factory.mktemp("bankid-page")
    with running_server(make_pki(directory / "pki"), directory) as server:
        yield server


@pytest.fixture
def bankid(bankid_server: ServerProcess) -> Iterator[ServerBackend]:
    """Reset the server and give the tests its scripting verbs."""
    side = ServerBackend(bankid_server)
    yield side
    side.close()


@pytest.fixture
def hub(bankid_server: ServerProcess, bankid: ServerBackend) -> Iterator[Hub]:
    """Return the authorization server with citizens logging in through BankID directly."""
    from joserfc.jwk import ECKey

    from adapters.idp.smart import AuthSettings, StaticDirectory

    clock = Clock()
    settings = AuthSettings(fhir_base_url=FHIR_BASE, subject_secret=b"test-subject-secret-32-bytes....")
    client = HttpBankIdClient(bankid_server.base_url, bankid_server.tls(), timeout=5.0)
    backend_key = ECKey.generate_key("P-384", private=True, parameters={"kid": "vg-2025"})
    services = AuthServices(
        settings=settings,
        tokens=AccessTokens(KeyRing.generate(), issuer=settings.issuer, audience=FHIR_BASE),
        refresh_tokens=InMemoryRefreshTokenStore(), clients=_registry(backend_key), one_time=InMemoryOneTimeStore(),
        logins={"citizen": BankIdBrowserLogin(client, page_url=settings.url(BANKID_PAGE_PATH)),
                "clinician": DevLoginBackend(page_url=settings.url(DEV_LOGIN_PATH), mode="development")},
        directory=StaticDirectory(patients={TOLVAN.person_id: "tolvan"}, users={TOLVAN.person_id: "Patient/tolvan"}),
        clock=clock,
    )
    app = FastAPI()
    mount_auth(app, services)
    with TestClient(app, base_url=HUB, follow_redirects=False, client=(CITIZEN_IP, 50000)) as browser:
        yield Hub(browser, services, clock, backend_key)
    client.close()


def start_login(hub: Hub) -> tuple[str, dict[str, str]]:
    """Run /authorize for the citizen app; return the PKCE verifier and the request."""
    verifier, challenge = pkce()
    params = authorize_params(scope="openid fhirUser launch/patient patient/*.rs", challenge=challenge)
    start = hub.client.get("/auth/authorize", params=params)
    assert start.status_code == 302, start.text
    assert start.headers["location"] == f"{HUB}{BANKID_PAGE_PATH}"
    return verifier, params


def status(hub: Hub, **query: str) -> dict[str, str]:
    """Poll the page's status once, as its script does."""
    response = hub.client.get(f"{BANKID_PAGE_PATH}/status", params=query)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body: dict[str, str] = response.json()
    return body


def test_bankid_page__qr_code_hints_and_completion_give_the_app_a_token_for_the_citizen(
        hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction", "userSign"), personal_number=TOLVAN.person_id,
                              given_name="Tolvan", surname="Tolvansson"))
    verifier, params = start_login(hub)

    page = hub.client.get(BANKID_PAGE_PATH)
    assert page.status_code == 200 and "<html lang='sv'>" in page.text
    assert "Logga in med BankID" in page.text and "Öppna BankID på den här enheten" in page.text
    assert re.search(r"href='bankid:///\?autostarttoken=[0-9a-f-]+&amp;redirect=null'", page.text), page.text
    assert "<noscript><meta http-equiv='refresh' content='2'></noscript>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"] and "<script>" not in page.text
    script = hub.client.get(re.search(r"<script src='([^']+)'>", page.text).group(1))  # type: ignore[union-attr]
    assert script.status_code == 200 and "/status?lang=" in script.text and "/qr.svg" in script.text
    first = hub.client.get(f"{BANKID_PAGE_PATH}/qr.svg")
    hub.clock.advance(seconds=1)
    second = hub.client.get(f"{BANKID_PAGE_PATH}/qr.svg")
    assert first.headers["content-type"] == "image/svg+xml" and first.text.startswith("<svg")
    assert first.text != second.text, "the QR code must change every second"

    assert status(hub) == {"status": "pending", "hintCode": "outstandingTransaction",
                           "message": pending_message("outstandingTransaction").sv}
    assert status(hub)["message"] == pending_message("userSign").sv
    done = status(hub)
    assert done["status"] == "complete" and done["next"].startswith(f"{HUB}/auth/callback?bankid_result=")

    back = hub.client.get(urlsplit(done["next"]).path + "?" + urlsplit(done["next"]).query)
    assert back.status_code == 302 and back.headers["location"].startswith(APP_CB), back.text
    answer = query_of(back.headers["location"])
    assert answer["state"] == params["state"]
    redeemed = token(hub, {"grant_type": "authorization_code", "code": answer["code"], "code_verifier": verifier,
                           "redirect_uri": APP_CB, "client_id": "triage-app"})
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    ctx = hub.services.tokens.verify_access_token(body["access_token"], now=hub.clock.now)
    assert ctx.principal.kind == "citizen" and getattr(ctx.principal, "person_id", "") == TOLVAN.person_id
    assert body["patient"] == "tolvan"


def test_bankid_page__without_scripts_each_reload_collects_and_the_last_one_goes_to_the_callback(
        hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction",), personal_number=TOLVAN.person_id))
    start_login(hub)

    assert hub.client.get(BANKID_PAGE_PATH).status_code == 200  # starts the order
    pending = hub.client.get(BANKID_PAGE_PATH)
    assert pending.status_code == 200 and pending_message("outstandingTransaction").sv in pending.text
    done = hub.client.get(BANKID_PAGE_PATH)
    assert done.status_code == 303 and "/auth/callback?bankid_result=" in done.headers["location"]
    back = hub.client.get(urlsplit(done.headers["location"]).path + "?" + urlsplit(done.headers["location"]).query)
    assert back.status_code == 302 and "code=" in back.headers["location"]


def test_bankid_page__cancel_cancels_the_order_at_bankid_and_tells_the_app_access_denied(
        hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction",) * 5))
    _, params = start_login(hub)
    hub.client.get(BANKID_PAGE_PATH)
    status(hub)

    cancelled = hub.client.post(f"{BANKID_PAGE_PATH}/cancel")
    assert cancelled.status_code == 303
    assert len(bankid.cancelled()) == 1
    back = hub.client.get(urlsplit(cancelled.headers["location"]).path + "?"
                          + urlsplit(cancelled.headers["location"]).query)
    answer = query_of(back.headers["location"])
    assert back.headers["location"].startswith(APP_CB) and answer["error"] == "access_denied"
    assert answer["state"] == params["state"]


@pytest.mark.parametrize("hint_code", ["userCancel", "expiredTransaction", "startFailed"])
def test_bankid_page__a_failed_order_says_why_and_a_retry_starts_a_new_one(
        hub: Hub, bankid: ServerBackend, hint_code: str) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction",), outcome=hint_code))
    start_login(hub)
    hub.client.get(BANKID_PAGE_PATH)
    status(hub)

    failed = status(hub)
    assert failed == {"status": "failed", "hintCode": hint_code, "message": failed_message(hint_code).sv}
    page = hub.client.get(BANKID_PAGE_PATH)
    assert page.status_code == 200 and failed_message(hint_code).sv in page.text and "Försök igen" in page.text
    assert status(hub)["status"] == "failed", "a failed order stays failed until the citizen tries again"

    bankid.script(OrderScript(pending=(), personal_number=TOLVAN.person_id))
    again = hub.client.post(f"{BANKID_PAGE_PATH}/retry")
    assert again.status_code == 303 and again.headers["location"] == f"{BANKID_PAGE_PATH}?lang=sv"
    assert status(hub)["status"] == "complete"


def test_bankid_page__speaks_english_when_asked(hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction",)))
    start_login(hub)
    page = hub.client.get(BANKID_PAGE_PATH, params={"lang": "en"})
    assert "<html lang='en'>" in page.text and "Open BankID on this device" in page.text
    assert status(hub, lang="en")["message"] == pending_message("outstandingTransaction").en


def test_bankid_page__without_a_login_under_way_starts_no_order_and_says_to_start_again(
        hub: Hub, bankid: ServerBackend) -> None:
    page = hub.client.get(BANKID_PAGE_PATH)
    assert page.status_code == 400 and "börja om" in page.text
    assert hub.client.get(f"{BANKID_PAGE_PATH}/qr.svg").status_code == 404
    assert status(hub)["status"] == "gone"
    assert bankid.server.control("GET", "/control/state")["orders"] == []


def test_bankid_page__a_login_that_took_too_long_is_gone(hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=("outstandingTransaction",) * 5))
    start_login(hub)
    hub.client.get(BANKID_PAGE_PATH)
    hub.clock.advance(minutes=11)
    assert status(hub)["status"] == "gone"
    assert hub.client.get(BANKID_PAGE_PATH).status_code == 400


def test_callback__a_forged_or_reused_bankid_result_is_refused(hub: Hub, bankid: ServerBackend) -> None:
    bankid.script(OrderScript(pending=(), personal_number=TOLVAN.person_id))
    start_login(hub)
    hub.client.get(BANKID_PAGE_PATH)
    forged = hub.client.get("/auth/callback", params={"bankid_result": "made-up"})
    assert query_of(forged.headers["location"])["error"] == "access_denied"
