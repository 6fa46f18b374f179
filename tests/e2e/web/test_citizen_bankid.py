"""A citizen logs in to the citizen pages with BankID run by the hub itself, in a real browser.

The hub runs as a region that runs BankID itself configures it (INGANG_CITIZEN_BANKID_*: the RP
API URL, the RP certificate and key, BankID's CA), against the local BankID RP API server in its
own process over mutual TLS (tests/fixtures/bankid). The test scripts how each order goes, as the
citizen's phone would: some pending collects, then complete, a failure, or none (the citizen
cancels on the page). The browser follows the citizen: the start, the hub's BankID page with its
QR code and messages, and back to the citizen page, logged in, to answer the triage.
https://developers.bankid.com/api-references/auth--sign/collect
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.idp.bankid import OrderScript
from adapters.idp.bankid.messages import failed_message, pending_message
from tests.conftest import BACKENDS
from tests.e2e.web.conftest import (
    STEP_TIMEOUT_MS,
    Shots,
    WebHub,
    assert_accessible,
    current_view,
    running_web_hub,
)
from tests.fixtures.bankid.certs import make_pki
from tests.fixtures.bankid.harness import ServerBackend, ServerProcess, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# A demo citizen (adapters/idp/dev/people.py), so the hub has a Patient for the number BankID vouches for.
TOLVAN = ("191212121212", "Tolvan", "Tolvansson")
BANKID_PAGE = re.compile(r"/auth/bankid(\?|$)")
CITIZEN_PAGE = re.compile(r"/web/citizen/")


@pytest.fixture(scope="module")
def bankid_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Start one local BankID RP API server for the module, with a PKI of its own."""
    directory = tmp_path_factory.mktemp("bankid-web")
    with running_server(make_pki(directory / "pki"), directory) as server:
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def web_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            bankid_server: ServerProcess) -> Iterator[WebHub]:
    """Override conftest's hub with one whose citizens log in with BankID against the local server."""
    pki = bankid_server.pki
    with running_web_hub(request.param, tmp_path_factory.mktemp(f"bankid-web-{request.param}"),
                         INGANG_CITIZEN_BANKID_URL=bankid_server.base_url,
                         INGANG_CITIZEN_BANKID_CERT_FILE=str(pki.client_cert),
                         INGANG_CITIZEN_BANKID_KEY_FILE=str(pki.client_key),
                         INGANG_CITIZEN_BANKID_CA_FILE=str(pki.ca_cert)) as hub:
        yield hub


@pytest.fixture
def bankid(bankid_server: ServerProcess) -> Iterator[ServerBackend]:
    """Reset the BankID server and give the test its scripting verbs."""
    side = ServerBackend(bankid_server)
    yield side
    side.close()


def tolvans_order(*pending: str, outcome: str = "complete") -> OrderScript:
    """Return how Tolvan's next order goes: these pending hintCodes (one per poll), then the outcome."""
    number, given, surname = TOLVAN
    return OrderScript(pending=pending, outcome=outcome, personal_number=number, given_name=given, surname=surname)


def wait_until(check: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT_MS / 1000) -> None:
    """Poll `check` until it is true; page.wait_for_function can evaluate in the page before the BankID page."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.1)


def open_bankid_page(page: Any, hub: WebHub) -> None:
    """From the citizen pages' start, log in for oneself and wait for the hub's BankID page."""
    page.goto(hub.url("/"))
    page.locator("#view-start").wait_for(state="visible")
    page.get_by_label("Mig själv").check()
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(BANKID_PAGE)
    page.get_by_role("heading", name="Logga in med BankID").wait_for()


def expect_logged_in_as_tolvan(page: Any) -> None:
    """Wait until the citizen page is back and says whom the care is for: Tolvan himself."""
    page.wait_for_url(CITIZEN_PAGE)
    page.locator("#view-who").wait_for(state="visible")
    assert page.locator("#who-name").inner_text() == "Tolvan Tolvansson"
    assert page.locator("#who-relation").inner_text() == "dig själv"
    assert not page.locator("#error").is_visible()


def test_citizen_bankid__logs_in_with_the_qr_code_and_starts_the_triage(
        citizen_page: Any, web_hub: WebHub, bankid: ServerBackend, shots: Shots) -> None:
    page = citizen_page
    # Two polls while the citizen reaches for the phone, one while they type the code, then done.
    bankid.script(tolvans_order("outstandingTransaction", "outstandingTransaction", "userSign"))
    page.goto(web_hub.url("/"))
    page.locator("#view-start").wait_for(state="visible")
    assert page.locator("#view-start").inner_text().count("BankID") >= 1
    shots.take(page, "start")

    open_bankid_page(page, web_hub)
    qr = page.get_by_role("img", name="QR-kod att läsa av med BankID-appen")
    qr.wait_for()
    wait_until(lambda: qr.evaluate("(img) => img.complete && img.naturalWidth > 0"), "the QR code to be drawn")
    first_qr = qr.get_attribute("src")
    assert page.get_by_role("link", name="Öppna BankID på den här enheten").get_attribute("href").startswith("bankid:///")
    page.locator("#message", has_text=pending_message("outstandingTransaction").sv).wait_for()
    shots.take(page, "bankid-qr")
    assert_accessible(page, "the BankID page")
    # The QR code is animated: BankID's apps refuse a code older than a second or so.
    wait_until(lambda: qr.get_attribute("src") != first_qr, "a new QR code")
    page.locator("#message", has_text=pending_message("userSign").sv).wait_for()
    shots.take(page, "bankid-type-the-code")

    expect_logged_in_as_tolvan(page)
    shots.take(page, "logged-in")
    assert_accessible(page, "the citizen page after the BankID login")
    page.get_by_role("button", name="Börja svara på frågorna").click()
    assert current_view(page) == "question"
    assert page.locator("#q-legend").inner_text().startswith("Vad söker du för")
    page.locator("#q-input label", has_text="Utslag eller klåda").click()
    page.get_by_role("button", name="Nästa").click()
    page.wait_for_function("() => !document.getElementById('q-legend').textContent.startsWith('Vad söker du för')")
    assert page.locator("#q-progress-text").inner_text() == "Fråga 2"
    shots.take(page, "second-question")


def test_citizen_bankid__cancelling_on_the_bankid_page_says_so_and_lets_the_citizen_try_again(
        citizen_page: Any, web_hub: WebHub, bankid: ServerBackend, shots: Shots) -> None:
    page = citizen_page
    bankid.script(tolvans_order(*["outstandingTransaction"] * 30))
    open_bankid_page(page, web_hub)
    page.get_by_role("img", name="QR-kod att läsa av med BankID-appen").wait_for()

    page.get_by_role("button", name="Avbryt").click()
    page.wait_for_url(CITIZEN_PAGE)
    page.locator("#view-start").wait_for(state="visible")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("Inloggningen kunde inte göras: Inloggningen avbröts eller godkändes inte.")
    assert "?code=" not in page.url and "error=" not in page.url
    assert len(bankid.cancelled()) == 1, "the order must be cancelled at BankID, not left running"
    shots.take(page, "cancelled")
    assert_accessible(page, "the start after a cancelled login")

    bankid.script(tolvans_order("outstandingTransaction"))
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(BANKID_PAGE)
    expect_logged_in_as_tolvan(page)


def test_citizen_bankid__a_failed_order_is_explained_on_the_bankid_page_and_a_retry_logs_in(
        citizen_page: Any, web_hub: WebHub, bankid: ServerBackend, shots: Shots) -> None:
    page = citizen_page
    # The citizen presses "Avbryt" in the BankID app: the order fails with userCancel.
    bankid.script(tolvans_order("outstandingTransaction", outcome="userCancel"))
    open_bankid_page(page, web_hub)

    page.get_by_role("heading", name="Inloggningen kunde inte göras").wait_for()
    assert page.locator("#message").inner_text() == failed_message("userCancel").sv
    assert not page.get_by_role("img", name="QR-kod att läsa av med BankID-appen").count()
    shots.take(page, "bankid-failed")
    assert_accessible(page, "the BankID page after a failed order")

    bankid.script(tolvans_order("outstandingTransaction"))
    page.get_by_role("button", name="Försök igen").click()
    page.get_by_role("img", name="QR-kod att läsa av med BankID-appen").wait_for()
    expect_logged_in_as_tolvan(page)
    shots.take(page, "logged-in-after-retry")


def test_citizen_bankid__the_bankid_page_speaks_english_to_a_citizen_who_chose_english(
        citizen_page: Any, web_hub: WebHub, bankid: ServerBackend) -> None:
    page = citizen_page
    bankid.script(tolvans_order(*["outstandingTransaction"] * 30))
    page.goto(web_hub.url("/web/citizen/?lang=en"))
    page.locator("#view-start").wait_for(state="visible")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(BANKID_PAGE)
    page.get_by_role("heading", name="Log in with BankID").wait_for()
    page.locator("#message", has_text=pending_message("outstandingTransaction").en).wait_for()
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(CITIZEN_PAGE)
    assert page.locator("#error").inner_text().startswith("The login could not be completed: The login was cancelled")
