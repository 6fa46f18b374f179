"""A citizen's login outlives its access tokens: the page refreshes them, once at a time, and ends cleanly.

The hub here gives access tokens a lifetime of a few seconds (INGANG_ACCESS_TOKEN_SECONDS), so
within one test a citizen waiting in the waiting room outlives several of them, as one who waits
an hour for a nurse outlives ten-minute tokens. The page must keep working (requests, the live
chat socket, a reload), refresh once however many requests ask together (the hub rotates refresh
tokens and treats a second use as theft), and when the hub refuses, log out and say so.
https://hl7.org/fhir/smart-app-launch/app-launch.html#step-7-app-uses-a-refresh-token-to-obtain-a-new-access-token
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.web_wiring import CITIZEN_CLIENT_ID, CLINICIAN_CLIENT_ID, REGION_CLIENT_ID
from tests.conftest import BACKENDS
from tests.e2e.web.conftest import (
    GUARDIAN,
    STEP_TIMEOUT_MS,
    Shots,
    WebHub,
    assert_accessible,
    clinician_principal,
    log_in_as_parent_for_child,
    log_in_with_dev_login,
    running_web_hub,
)
from tests.e2e.web.test_citizen import start_case_for_child
from tests.e2e.web.test_clinician import _clinician_page, case_unit, log_in_to_workspace
from tests.processes import authorization_code_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN_SECONDS = 8
SESSION_KEY = f"ingang.auth.{CITIZEN_CLIENT_ID}"
WORKSPACE_KEY = f"ingang.auth.{CLINICIAN_CLIENT_ID}"
REGION_KEY = f"ingang.auth.{REGION_CLIENT_ID}"
UNIT = "SE2321000000-DIG1"  # a demo unit (adapters/idp/dev/people.py)
# The scopes the pages ask for (web/citizen/app.js, web/clinician/app.js).
CITIZEN_SCOPE = "openid fhirUser launch/patient patient/*.cruds offline_access"
CLINICIAN_SCOPE = "openid fhirUser user/*.cruds offline_access"
LOGGED_OUT = "Du har loggats ut eftersom inloggningen inte gäller längre. Logga in igen för att fortsätta."


@pytest.fixture(scope="module", params=BACKENDS)
def web_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    """Override conftest's hub with one whose access tokens live TOKEN_SECONDS."""
    workdir = tmp_path_factory.mktemp(f"long-session-{request.param}")
    with running_web_hub(request.param, workdir, INGANG_ACCESS_TOKEN_SECONDS=str(TOKEN_SECONDS)) as hub:
        yield hub


@pytest.fixture
def clinician_page(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A desktop context for the clinician, failing on script errors (as in test_clinician.py)."""
    yield from _clinician_page(browser, web_hub)


class Traffic:
    """What a page sent the hub: refresh requests, answers of 401, and each live socket's token."""

    def __init__(self, page: Any) -> None:
        self.refreshes: list[int] = []
        self.unauthorized: list[str] = []
        # (when the socket opened, the expiry its token claimed), both in seconds since the epoch.
        self.sockets: list[tuple[float, int]] = []
        page.on("requestfinished", self._finished)
        page.on("response", self._response)
        page.on("websocket", self._socket)

    def _finished(self, request: Any) -> None:
        if request.url.endswith("/auth/token") and "grant_type=refresh_token" in (request.post_data or ""):
            response = request.response()
            self.refreshes.append(response.status if response else 0)

    def _response(self, response: Any) -> None:
        if response.status == 401:
            self.unauthorized.append(response.url)

    def _socket(self, ws: Any) -> None:
        token = parse_qs(urlsplit(ws.url).query).get("access_token", [""])[0]
        self.sockets.append((time.time(), int(claims_of(token).get("exp", 0))))


def claims_of(jwt: str) -> dict[str, Any]:
    """Decode a JWT's payload without checking it (the hub checks; the test only reads the expiry)."""
    try:
        part = jwt.split(".")[1]
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return decoded
    except (IndexError, ValueError):
        return {}


def stored_token(page: Any, key: str = SESSION_KEY) -> dict[str, Any]:
    """Return the token response the page keeps in sessionStorage."""
    token: dict[str, Any] = page.evaluate("(key) => JSON.parse(sessionStorage.getItem(key))", key)
    return token


def change_stored_token(page: Any, **fields: Any) -> None:
    """Change fields of the stored token; `expires_at: "now"` makes it due by the page's clock."""
    page.evaluate("""([key, fields]) => {
        const token = JSON.parse(sessionStorage.getItem(key));
        for (const [name, value] of Object.entries(fields)) token[name] = value === "now" ? Date.now() - 1 : value;
        sessionStorage.setItem(key, JSON.stringify(token));
    }""", [SESSION_KEY, fields])


def wait_until_expired(page: Any, token: dict[str, Any]) -> None:
    """Wait, by the page's own clock, until the token has expired."""
    page.wait_for_function("(at) => Date.now() > at", arg=token["expires_at"] + 500,
                           timeout=TOKEN_SECONDS * 1000 + STEP_TIMEOUT_MS)


def test_long_session__the_hub_gives_the_pages_clients_refresh_tokens(web_hub: WebHub) -> None:
    citizen = authorization_code_token(web_hub.base_url, CITIZEN_CLIENT_ID, GUARDIAN, CITIZEN_SCOPE,
                                       redirect_uri=web_hub.url("/web/citizen/"), aud=web_hub.url("/fhir"))
    clinician = authorization_code_token(web_hub.base_url, CLINICIAN_CLIENT_ID, clinician_principal(UNIT),
                                         CLINICIAN_SCOPE, redirect_uri=web_hub.url("/web/clinician/"),
                                         aud=web_hub.url("/fhir"))
    for issued in (citizen, clinician):
        assert issued["refresh_token"] and "offline_access" in issued["scope"].split(), issued
        assert issued["expires_in"] == TOKEN_SECONDS


def test_long_session__page_refreshes_its_token_and_keeps_working(
        citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    traffic = Traffic(page)
    encounter_id = start_case_for_child(page, web_hub)
    shots.take(page, "waiting-room")

    # The open case outlives the token it was opened with: the chat still sends, the case reloads.
    first = stored_token(page)
    assert "refresh_token" in first, "the hub gave the citizen page no refresh token"
    wait_until_expired(page, first)
    page.get_by_label("Ditt meddelande").fill("Är det långt kvar?")
    page.get_by_role("button", name="Skicka", exact=True).first.click()
    page.locator("#chat-log li.mine", has_text="Är det långt kvar?").wait_for()
    page.get_by_role("button", name="Uppdatera").click()
    page.locator("#case-status[data-state=waiting]").wait_for()
    shots.take(page, "still-waiting-after-the-token-expired")

    # A citizen who leaves the tab and comes back finds the case, the expired token refreshed.
    page.goto("about:blank")
    time.sleep(TOKEN_SECONDS + 1)
    page.goto(web_hub.url(f"/web/citizen/#case/{encounter_id}"))
    page.locator("#case-status[data-state=waiting]").wait_for()
    assert page.url.endswith(f"#case/{encounter_id}")
    page.locator("#chat-log li.mine", has_text="Är det långt kvar?").wait_for()
    shots.take(page, "case-after-coming-back")

    assert traffic.refreshes and set(traffic.refreshes) == {200}, traffic.refreshes
    assert stored_token(page)["access_token"] != first["access_token"]
    assert not traffic.unauthorized, f"the hub refused the page's token: {traffic.unauthorized}"
    assert len(traffic.sockets) >= 2, "the live socket never renewed its token"
    stale = [(opened, exp) for opened, exp in traffic.sockets if exp <= opened]
    assert not stale, f"live sockets opened with an expired token: {stale}"
    assert not page.locator("#error").is_visible()


def test_long_session__requests_asking_at_once_share_one_refresh(citizen_page: Any, web_hub: WebHub) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    traffic = Traffic(page)
    change_stored_token(page, expires_at="now")

    ids = page.evaluate("""async (key) => {
        const app = window.ingangCitizen, patient = JSON.parse(sessionStorage.getItem(key)).patient;
        const reads = await Promise.all(Array.from({ length: 6 }, () => app.api.read("Patient", patient)));
        return reads.map((read) => read.id);
    }""", SESSION_KEY)

    assert len(ids) == 6 and len(set(ids)) == 1
    page.wait_for_timeout(500)  # Playwright reports finished requests after the call that made them
    assert traffic.refreshes == [200], f"expected one refresh for six requests, got {traffic.refreshes}"
    assert not traffic.unauthorized
    page.locator("#view-who").wait_for(state="visible")


def test_long_session__a_refused_refresh_logs_out_with_a_message_and_a_way_back_in(
        citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    # As if the login's twelve hours ran out, or it was revoked: the hub refuses the refresh token.
    change_stored_token(page, refresh_token="no-such-refresh-token", expires_at="now")

    page.get_by_role("button", name="Börja svara på frågorna").click()
    page.locator("#view-start").wait_for(state="visible")
    page.locator("#error", has_text=LOGGED_OUT).wait_for()
    assert page.locator("#error").inner_text() == LOGGED_OUT
    assert page.evaluate("(key) => sessionStorage.getItem(key)", SESSION_KEY) is None
    assert page.get_by_role("button", name="Logga in").is_visible()
    assert not page.get_by_role("button", name="Logga ut").is_visible()
    shots.take(page, "logged-out")
    assert_accessible(page, "the start after the login ended")

    page.get_by_role("button", name="Logga in").click()
    log_in_with_dev_login(page, GUARDIAN)
    page.locator("#view-who").wait_for(state="visible")
    assert not page.locator("#error").is_visible()


def test_long_session__the_workspace_outlives_its_token_and_a_reload(
        citizen_page: Any, clinician_page: Any, web_hub: WebHub, shots: Shots) -> None:
    start_case_for_child(citizen_page, web_hub)
    task_id, unit = case_unit(citizen_page)
    page = clinician_page
    traffic = Traffic(page)
    log_in_to_workspace(page, web_hub, clinician_principal(unit))
    row = page.locator(f"#room-rows tr[data-task='{task_id}']")
    row.wait_for()

    first = stored_token(page, WORKSPACE_KEY)
    wait_until_expired(page, first)
    page.reload()
    page.locator("#view-work").wait_for(state="visible")
    row.get_by_role("button", name="Ta ärendet för Lilly Testsson").click()
    page.locator("#case-state[data-state=in-progress]").wait_for()
    shots.take(page, "case-taken-after-the-token-expired")

    assert traffic.refreshes and set(traffic.refreshes) == {200}, traffic.refreshes
    assert stored_token(page, WORKSPACE_KEY)["access_token"] != first["access_token"]
    assert not page.locator("#error").is_visible()


def test_long_session__the_statistics_page_outlives_its_token_and_a_reload(
        clinician_page: Any, web_hub: WebHub) -> None:
    page = clinician_page
    traffic = Traffic(page)
    page.goto(web_hub.url("/web/region/"))
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("button", name="Alva Admin", exact=True).click()
    page.locator("#summary h2", has_text="Region Demo Norr").wait_for()

    first = stored_token(page, REGION_KEY)
    wait_until_expired(page, first)
    page.get_by_role("button", name="Visa").click()
    page.locator("#status", has_text="ärenden").wait_for()
    wait_until_expired(page, stored_token(page, REGION_KEY))
    page.reload()
    page.locator("#summary h2", has_text="Region Demo Norr").wait_for()

    assert len(traffic.refreshes) >= 2 and set(traffic.refreshes) == {200}, traffic.refreshes
    assert not traffic.unauthorized, traffic.unauthorized
    assert not page.locator("#error").is_visible()
