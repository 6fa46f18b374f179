"""The region's statistics page in Chromium, against a running hub with the demo data.

The demo region's administrator (a commission for administration with the statistics right)
logs in by choosing herself on the dev login, as a SITHS login would bring her claims,
reads the figures as charts with tables, and downloads the CSV; a clinician without the right
is told why they see nothing. The numbers themselves are tested in
tests/integration/statistics on a known dataset; here the page is. Checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.web.conftest import (
    STEP_TIMEOUT_MS,
    Shots,
    WebHub,
    assert_accessible,
    clinician_principal,
    log_in_with_dev_login,
)

pytestmark = pytest.mark.e2e
NORR = "SE2321000000-NORR"
ADMINISTRATOR = "Alva Admin"  # the demo administrator, see adapters/idp/dev/people.py


@pytest.fixture
def region_page(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A desktop context that accepts downloads and fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="sv-SE", accept_downloads=True,
                                  base_url=web_hub.base_url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def log_in_to_region_page(page: Any, hub: WebHub, who: dict[str, Any] | str) -> None:
    """Open the statistics page and log in with the dev login: a demo person by name, or a principal."""
    page.goto(hub.url("/web/region/"))
    page.locator("#view-login").wait_for(state="visible")
    page.get_by_role("button", name="Logga in").click()
    if isinstance(who, str):
        page.wait_for_url(re.compile(r"/auth/dev/login"))
        page.get_by_role("button", name=who, exact=True).click()
    else:
        log_in_with_dev_login(page, who)
    page.wait_for_url(re.compile(r"/web/region/"))
    page.locator("#view-figures").wait_for(state="visible")


def test_region__an_administrator_reads_the_figures_as_charts_and_tables_and_downloads_csv(
        region_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = region_page
    page.goto(web_hub.url("/web/region/"))
    page.locator("#view-login").wait_for(state="visible")
    assert_accessible(page, "the statistics login")
    log_in_to_region_page(page, web_hub, ADMINISTRATOR)
    assert page.get_by_label("Region (HSA-id)").input_value() == NORR
    page.locator("#summary h2", has_text="Region Demo Norr").wait_for()
    assert re.search(r"\d+ ärenden, varav \d+ avslutade med egenvårdsråd", page.locator("#summary").inner_text())
    for caption in ("Antal ärenden per dag och bedömning", "Antal ärenden per besvär",
                    "Väntetid i minuter från start till att en medarbetare tog ärendet",
                    "Antal gånger varje medarbetare tog ett ärende"):
        assert page.get_by_role("table", name=caption).count() == 1, caption
    assert page.locator(".chart > svg[aria-hidden=true]").count() == 4
    shots.take(page, "figures")
    assert_accessible(page, "the figures")

    with page.expect_download() as download:
        page.get_by_role("link", name="Ladda ner CSV").click()
    path = download.value.path()
    assert path is not None
    with open(path, encoding="utf-8") as csv_file:
        assert csv_file.readline().strip() == "figure,date,key,name,value"
    assert download.value.suggested_filename.startswith(f"statistics-{NORR}-")

    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Region statistics", level=1).wait_for()
    assert page.get_by_role("table", name="Cases per complaint").count() == 1


def test_region__a_clinician_without_the_statistics_right_is_told_why(
        region_page: Any, web_hub: WebHub, shots: Shots) -> None:
    log_in_to_region_page(region_page, web_hub, clinician_principal("SE2321000000-DIG1"))
    error = region_page.locator("#error")
    error.wait_for()
    assert "Statistik" in error.inner_text()
    shots.take(region_page, "refused")
    assert_accessible(region_page, "the refusal")


def test_region__the_workspace_refuses_the_administrator_and_says_why(
        region_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = region_page
    page.goto(web_hub.url("/web/clinician/"))
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r"/auth/dev/login"))
    page.get_by_role("button", name=ADMINISTRATOR, exact=True).click()
    page.wait_for_url(re.compile(r"/web/clinician/"))
    error = page.locator("#error")
    error.wait_for()
    assert "Vård och behandling" in error.inner_text() and "Administration" in error.inner_text()
    shots.take(page, "workspace-refuses-administrator")
