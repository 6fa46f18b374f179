"""The region's statistics page in Chromium, against a running hub with the demo data.

A regional administrator (a commission for the region with the statistics right) logs in,
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
ADMINISTRATOR = {"kind": "clinician", "employee_hsa_id": "SE2321000000-A001", "given_name": "Greta",
                 "family_name": "Statistiksson",
                 "commission": {"commission_hsa_id": "SE2321000000-A001-stat", "care_unit_hsa_id": "SE2321000000-VC01",
                                "care_provider_hsa_id": NORR, "purpose": "Administration",
                                "rights": ["Statistik;Alla;Alla"]}}


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


def log_in_to_region_page(page: Any, hub: WebHub, principal: dict[str, Any]) -> None:
    """Open the statistics page and log in with the dev login as the principal."""
    page.goto(hub.url("/web/region/"))
    page.locator("#view-login").wait_for(state="visible")
    page.get_by_role("button", name="Logga in").click()
    log_in_with_dev_login(page, principal)
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
