"""Drive the hub's own pages in Debian's Chromium against a running hub: fixtures and steps.

The hub runs as an operator starts it (uvicorn, INGANG_* variables, access control on, demo
data, the embedded dev login), once per database backend for the session. Playwright drives
Chromium from the system (never a downloaded browser), with a fake camera and microphone, so
video calls work headless. Each step can be saved as a screenshot under artifacts/screenshots/
and checked with axe-core (fetched by tests/fixtures/axe/fetch.sh). The steps a citizen takes
are functions here, so a test of the clinician's side can start from a citizen's case.
https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cases.principals import CARE_PURPOSE
from hub.web_wiring import CLINICIAN_CLIENT_ID
from tests.conftest import BACKENDS, IN_CI
from tests.processes import (
    REPO,
    assert_no_tracebacks,
    authorization_code_token,
    backend_database,
    free_port,
    hub_env,
    migrate,
    start_hub,
    stop_process,
)

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("INGANG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
AXE = REPO / "tests" / "fixtures" / "axe" / "package" / "axe.min.js"
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
STEP_TIMEOUT_MS = 30_000  # a WebRTC call on a busy 2-core machine can take longer than 15 s to connect
# The demo family (adapters/idp/dev/people.py): a parent and the child the register confirms.
PARENT, CHILD = "198112189876", "201401022387"
PARENT_NAME, CHILD_NAME = "Anders Testsson", "Lilly Testsson"  # as the demo data names them
GUARDIAN = {"kind": "guardian", "citizen": {"person_id": PARENT}, "child_person_id": CHILD}
CITIZEN = {"kind": "citizen", "person_id": PARENT}
VIEWS = ("question", "case", "selfcare", "emergency")


@dataclass(frozen=True)
class WebHub:
    """A running hub the browser can reach, and the backend it runs on."""

    backend: str
    base_url: str

    def url(self, path: str) -> str:
        """Return the absolute URL of a path on the hub."""
        return f"{self.base_url}{path}"


@pytest.fixture(scope="session", params=BACKENDS)
def web_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    """Start the hub with access control, demo data and the dev login; stop it after the session."""
    with running_web_hub(request.param, tmp_path_factory.mktemp(f"web-{request.param}")) as hub:
        yield hub


@contextmanager
def running_web_hub(backend: str, workdir: Path, **settings: str) -> Iterator[WebHub]:
    """Run a hub with access control, demo data and the dev login, plus `settings` (INGANG_* variables)."""
    with backend_database(backend, workdir / "hub.db", "ingang_e2e_web") as url:
        migrate(url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = hub_env(url, INGANG_ACCESS_CONTROL="true", INGANG_DEMO_DATA="true", INGANG_BASE_URL=f"{base_url}/fhir",
                      **settings)
        log = workdir / "hub.log"
        proc = start_hub(env, port, log)
        try:
            yield WebHub(backend, base_url)
        finally:
            stop_process(proc)
        assert_no_tracebacks(log)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium once for the session (skip when it is not installed here)."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def citizen_context(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A fresh phone-sized browser context for a citizen: own cookies, camera and microphone allowed."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE",
                                  timezone_id="Europe/Stockholm",
                                  permissions=["camera", "microphone"], base_url=web_hub.base_url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def citizen_page(citizen_context: Any) -> Iterator[Any]:
    """A page in the citizen's context that fails the test on any script error."""
    page = citizen_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert not errors, f"the page threw: {errors}"


class Shots:
    """Save numbered screenshots of a scenario under artifacts/screenshots/<scenario>-<backend>/."""

    def __init__(self, scenario: str, backend: str) -> None:
        self.folder = SCREENSHOTS / f"{scenario}-{backend}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page: Any, name: str) -> Path:
        """Save the whole page as the next numbered screenshot."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest, web_hub: WebHub) -> Shots:
    """Screenshots named after the test."""
    scenario = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.lower()).strip("-")
    return Shots(scenario, web_hub.backend)


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the page; return violations of these impacts."""
    if not AXE.exists():
        if IN_CI:
            pytest.fail(f"axe-core is missing: run {AXE.parents[1] / 'fetch.sh'}")
        pytest.skip("axe-core not fetched (tests/fixtures/axe/fetch.sh needs npm)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # The pages' Content-Security-Policy refuses inline scripts, so a script tag
        # (add_script_tag) is blocked; evaluating the source through the DevTools protocol is
        # not, and the policy stays on, so the tests also catch a page that breaks it.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in impacts]


def assert_accessible(page: Any, where: str) -> None:
    """Fail with a readable list when axe finds serious or critical violations."""
    found = axe_violations(page)
    assert not found, f"{where}: " + json.dumps(found, ensure_ascii=False, indent=1)


def log_in_with_dev_login(page: Any, principal: dict[str, Any]) -> None:
    """On the hub's dev login form, log in as the principal (the embedded default's stand-in for BankID)."""
    page.wait_for_url(re.compile(r"/auth/dev/login"))
    page.locator("textarea[name=principal]").fill(json.dumps(principal))
    page.get_by_role("button", name="Logga in").click()


def log_in_as_parent_for_child(page: Any, hub: WebHub, check: Callable[[Any, str], None] | None = None) -> None:
    """Open the citizen pages, choose "my child", log in as the demo parent and choose the child.

    The parent is chosen on the dev login's list, so their claims go through the BankID mappers,
    and the child on the hub's own choice page, where the population register confirms custody.
    `check(page, where)` runs on the login and choice pages (say, an accessibility check).
    """
    page.goto(hub.url("/"))
    page.get_by_label("Mitt barn").check()
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r"/auth/dev/login"))
    if check is not None:
        check(page, "the dev login")
    page.get_by_role("button", name=PARENT_NAME, exact=True).click()
    page.wait_for_url(re.compile(r"/auth/choose"))
    if check is not None:
        check(page, "the choice of whom the case is for")
    page.get_by_role("button", name=CHILD_NAME, exact=True).click()
    page.locator("#view-who").wait_for(state="visible")


def current_view(page: Any) -> str:
    """Wait until one of the triage's screens shows; return its name."""
    selector = ", ".join(f"#view-{name}:not([hidden])" for name in VIEWS)
    page.wait_for_selector(selector)
    return next(name for name in VIEWS if page.locator(f"#view-{name}").is_visible())


def answer_triage(page: Any, complaint: str, answers: dict[str, str], default: str = "Nej",
                  max_questions: int = 40, on_each: Callable[[Any], None] | None = None) -> str:
    """Answer the questions screen by screen; return the view the triage ends on.

    `answers` maps a fragment of a question's text to the answer (an option's label or a number);
    a yes/no question no fragment names gets `default`, a number question its minimum.
    `on_each(page)` runs on each question's screen before it is answered.
    """
    for _ in range(max_questions):
        if current_view(page) != "question":
            return current_view(page)
        if on_each is not None:
            on_each(page)
        legend = page.locator("#q-legend").inner_text()
        number = page.locator("#q-number")
        wanted = complaint if legend.startswith("Vad söker du för") else next(
            (value for fragment, value in answers.items() if fragment in legend), None)
        if number.count():
            number.fill(wanted or number.get_attribute("min") or "1")
        else:
            page.locator("#q-input label").filter(has_text=re.compile(rf"^\s*{re.escape(wanted or default)}\s*$")).click()
        before = legend
        page.get_by_role("button", name="Nästa").click()
        page.wait_for_function(
            "(before) => document.getElementById('view-question').hidden "
            "|| document.getElementById('q-legend').textContent !== before "
            "|| !document.getElementById('q-error').hidden", arg=before)
        error = page.locator("#q-error")
        assert not error.is_visible(), f"{legend!r}: {error.inner_text()}"
    raise AssertionError(f"the triage asked more than {max_questions} questions")


def png_photo(path: Path) -> Path:
    """Write a small real PNG (a skin-coloured square with a red patch), like a phone photo of a rash."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (224, 172, 140))
    ImageDraw.Draw(image).ellipse((110, 70, 210, 170), fill=(200, 60, 60))
    image.save(path, format="PNG")
    return path


def clinician_principal(unit_hsa_id: str) -> dict[str, Any]:
    """Return the dev login claim of a demo clinician with a commission for care at the unit."""
    from adapters.idp.dev import demo_directory

    for person in demo_directory().clinicians:
        for commission in person.commissions:
            if commission.care_unit_hsa_id == unit_hsa_id and commission.purpose == CARE_PURPOSE:
                return {"kind": "clinician", "employee_hsa_id": person.employee_hsa_id,
                        "given_name": person.given_name, "family_name": person.family_name,
                        "profession": person.title,
                        "commission": {"commission_hsa_id": commission.commission_hsa_id,
                                       "care_unit_hsa_id": unit_hsa_id,
                                       "care_provider_hsa_id": commission.care_provider[0],
                                       "care_unit_name": commission.care_unit_name}}
    raise LookupError(f"no demo clinician works at {unit_hsa_id}")


def clinician_token(hub: WebHub, principal: dict[str, Any]) -> str:
    """Log a clinician in as the workspace's public client would (PKCE, dev login); return the access token."""
    issued = authorization_code_token(hub.base_url, CLINICIAN_CLIENT_ID, principal, "openid fhirUser user/*.cruds",
                                      redirect_uri=hub.url("/web/clinician/"), aud=hub.url("/fhir"))
    token: str = issued["access_token"]
    return token
