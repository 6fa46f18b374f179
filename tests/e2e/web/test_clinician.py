"""The clinician's workspace in Chromium, against a running hub, beside a citizen in a second context.

A parent starts a case for their child and sends a photo; a clinician at the unit it went to
logs in to the workspace, sees it in the live waiting room, takes it (a colleague following the
same room sees it go, and is told plainly when they try to take it too), reads the case, chats,
both join video with Chromium's fake camera, and the clinician closes it with a journal note;
the citizen sees it closed. The workspace also opens a case from an EHR launch. Screenshots of
each step go to artifacts/screenshots/; every screen is checked with axe-core.
https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.idp.dev import demo_directory
from cases.principals import CARE_PURPOSE
from tests.e2e.web.conftest import (
    PHONE,
    STEP_TIMEOUT_MS,
    Shots,
    WebHub,
    assert_accessible,
    clinician_principal,
    clinician_token,
    log_in_with_dev_login,
    png_photo,
)
from tests.e2e.web.test_citizen import start_case_for_child

pytestmark = pytest.mark.e2e
HSA = "urn:oid:1.2.752.29.4.19"
DESKTOP = {"width": 1366, "height": 900}


def _clinician_page(browser: Any, hub: WebHub) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, locale="sv-SE", permissions=["camera", "microphone"],
                                  base_url=hub.base_url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the workspace threw: {errors}"


@pytest.fixture
def clinician_page(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A desktop context for the clinician, camera and microphone allowed, failing on script errors."""
    yield from _clinician_page(browser, web_hub)


@pytest.fixture
def colleague_page(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A second clinician's desktop context at the same unit."""
    yield from _clinician_page(browser, web_hub)


def colleague_of(principal: dict[str, Any]) -> dict[str, Any]:
    """Return another demo clinician with a commission for care at the same unit."""
    unit = principal["commission"]["care_unit_hsa_id"]
    for person in demo_directory().clinicians:
        if person.employee_hsa_id == principal["employee_hsa_id"]:
            continue
        for commission in person.commissions:
            if commission.care_unit_hsa_id == unit and commission.purpose == CARE_PURPOSE:
                return {"kind": "clinician", "employee_hsa_id": person.employee_hsa_id,
                        "given_name": person.given_name, "family_name": person.family_name,
                        "commission": {"commission_hsa_id": commission.commission_hsa_id, "care_unit_hsa_id": unit,
                                       "care_provider_hsa_id": commission.care_provider[0],
                                       "care_unit_name": commission.care_unit_name}}
    raise LookupError(f"no second demo clinician works at {unit}")


def case_unit(citizen_page: Any) -> tuple[str, str]:
    """Return the citizen's case Task id and the HSA-id of the unit that owns it."""
    task_id, unit = citizen_page.evaluate("""async (hsa) => {
        const app = window.ingangCitizen;
        const task = app.caseView.task;
        const unit = await app.api.read("Organization", task.owner.reference.split("/")[1]);
        return [task.id, unit.identifier.find((i) => i.system === hsa).value];
    }""", HSA)
    return task_id, unit


def log_in_to_workspace(page: Any, hub: WebHub, principal: dict[str, Any]) -> None:
    """Open the workspace, log in with the dev login as the clinician, wait for the waiting room."""
    page.goto(hub.url("/web/clinician/"))
    page.get_by_role("button", name="Logga in").click()
    log_in_with_dev_login(page, principal)
    page.wait_for_url(re.compile(r"/web/clinician/"))
    page.locator("#view-work").wait_for(state="visible")
    page.locator("#room-live", has_text="Uppdateras direkt").wait_for()


def test_clinician__takes_the_childs_case_chats_calls_and_closes_it_and_the_citizen_sees_it_closed(
        citizen_page: Any, clinician_page: Any, colleague_page: Any, web_hub: WebHub, shots: Shots,
        tmp_path: Path) -> None:
    citizen, page = citizen_page, clinician_page
    encounter_id = start_case_for_child(citizen, web_hub)
    citizen.locator("#photo-file").set_input_files(str(png_photo(tmp_path / "rash.png")))
    citizen.get_by_role("button", name="Skicka bilden").click()
    citizen.locator("#photo-result", has_text="Bilden är skickad.").wait_for()
    shots.take(citizen, "citizen-waiting")
    task_id, unit = case_unit(citizen)
    me = clinician_principal(unit)

    page.goto(web_hub.url("/web/clinician/"))
    page.locator("#view-login").wait_for(state="visible")
    shots.take(page, "clinician-login")
    assert_accessible(page, "the workspace's login")
    log_in_to_workspace(page, web_hub, me)
    log_in_to_workspace(colleague_page, web_hub, colleague_of(me))
    row = page.locator(f"#room-rows tr[data-task='{task_id}']")
    row.wait_for()
    assert "Lilly Testsson" in row.inner_text()
    assert "vårdnadshavare svarade" in row.inner_text()
    # The complaint by its name, not the triage's code; in English when the workspace is.
    complaint = row.locator("td[data-code='complaint-rash-or-itching']")
    assert complaint.inner_text() == "Utslag eller klåda"
    assert "complaint-" not in row.inner_text()
    page.get_by_role("button", name="English").click()
    complaint.filter(has_text="Rash or itching").wait_for()
    page.get_by_role("button", name="Svenska").click()
    complaint.filter(has_text="Utslag eller klåda").wait_for()
    colleague_page.locator(f"#room-rows tr[data-task='{task_id}']").wait_for()
    shots.take(page, "clinician-waiting-room")
    assert_accessible(page, "the waiting room")

    row.get_by_role("button", name="Ta ärendet för Lilly Testsson").click()
    page.locator("#case-state[data-state=in-progress]").wait_for()
    # The colleague's room drops the case live; taking it anyway is a lost race, said plainly.
    colleague_page.locator(f"#room-rows tr[data-task='{task_id}']").wait_for(state="detached")
    colleague_page.evaluate("(id) => window.ingangClinician.room.claim(id, document.createElement('button'))", task_id)
    colleague_page.locator("#error", has_text="En kollega tog ärendet före dig.").wait_for()
    shots.take(colleague_page, "colleague-lost-the-race")
    citizen.locator("#case-status[data-state=in-progress]").wait_for()

    facts = page.locator("#case-facts").inner_text()
    assert "Lilly Testsson" in facts and "Vårdnadshavare" in facts
    assessment = page.locator("#assessment").inner_text()
    assert "Regler som slog till" in assessment and "rash-new-medicine" in assessment
    assert "Läkare" in assessment and "doctor" not in assessment, "the competence is named, not coded"
    assert page.locator("#answers dt").count() > 3
    page.locator("#photos img").first.wait_for()
    page.wait_for_function("() => document.querySelector('#photos img').naturalWidth > 0")
    shots.take(page, "clinician-case")
    assert_accessible(page, "the case")

    page.get_by_label("Meddelande").fill("Hej! Hur mår Lilly nu?")
    page.get_by_role("button", name="Skicka", exact=True).click()
    citizen.locator("#chat-log li.theirs", has_text="Hej! Hur mår Lilly nu?").wait_for()
    citizen.get_by_label("Ditt meddelande").fill("Hon kliar sig mycket men är pigg.")
    citizen.get_by_role("button", name="Skicka", exact=True).first.click()
    page.locator("#chat-log li.theirs", has_text="Hon kliar sig mycket men är pigg.").wait_for()
    shots.take(page, "clinician-chat")
    shots.take(citizen, "citizen-chat")

    page.get_by_role("button", name="Starta video").click()
    citizen.get_by_role("button", name="Gå med i videosamtalet").click()
    citizen.locator("#video-state", has_text="Samtalet är kopplat.").wait_for()
    page.locator("#video-state[data-state=connected]").wait_for()
    page.wait_for_function("() => document.getElementById('video-remote').videoWidth > 0")
    citizen.wait_for_function("() => document.getElementById('video-remote').videoWidth > 0")
    shots.take(page, "clinician-video")
    shots.take(citizen, "citizen-video")
    page.get_by_role("button", name="Lägg på").click()
    page.locator("#video-state[data-state=ended]", has_text="Samtalet är avslutat.").wait_for()

    page.get_by_label("Utfall").select_option("advice-given")
    page.get_by_label("Journalanteckning").fill("Utslag efter ny medicin. Råd om klåda; hör av er om det sprider sig.")
    page.get_by_role("button", name="Avsluta ärendet").click()
    page.locator("#case-state[data-state=closed]").wait_for()
    assert page.locator("#action-result").inner_text() == "Ärendet är avslutat och anteckningen skickas till journalen."
    assert not page.locator(f"#room-rows tr[data-task='{task_id}']").count()
    shots.take(page, "clinician-closed")
    citizen.locator("#case-status[data-state=closed]").wait_for()
    assert citizen.locator("#case-status").inner_text().startswith("Ärendet är avslutat.")
    shots.take(citizen, "citizen-sees-closed")
    assert encounter_id


def test_clinician__an_ehr_launch_opens_the_case_of_the_encounter_it_names(
        citizen_page: Any, clinician_page: Any, web_hub: WebHub, shots: Shots) -> None:
    encounter_id = start_case_for_child(citizen_page, web_hub)
    task_id, unit = case_unit(citizen_page)
    principal = clinician_principal(unit)
    patient_id = citizen_page.evaluate("() => window.ingangCitizen.patient.id")
    # The EHR (here: the clinician's own session in it) binds patient and encounter to a launch id.
    ehr_token = clinician_token(web_hub, principal)
    answer = httpx.post(web_hub.url("/auth/launch"), headers={"Authorization": f"Bearer {ehr_token}"},
                        json={"patient": patient_id, "encounter": encounter_id, "client_id": "ingang-clinician"})
    assert answer.status_code == 201, answer.text

    page = clinician_page
    page.goto(web_hub.url(f"/web/clinician/?launch={answer.json()['launch']}&iss={web_hub.url('/fhir')}"))
    log_in_with_dev_login(page, principal)
    page.locator("#case").wait_for(state="visible")
    page.locator("#case-state[data-state=waiting]").wait_for()
    facts = page.locator("#case-facts").inner_text()
    assert "Lilly Testsson" in facts and "Utslag eller klåda" in facts
    page.locator(f"#room-rows tr[data-task='{task_id}'].selected").wait_for()
    shots.take(page, "ehr-launch")
    assert_accessible(page, "the case opened from an EHR launch")


def test_clinician__a_launch_naming_another_server_is_refused(clinician_page: Any, web_hub: WebHub) -> None:
    clinician_page.goto(web_hub.url("/web/clinician/?launch=abc&iss=https://elsewhere.example/fhir"))
    clinician_page.locator("#error", has_text="https://elsewhere.example/fhir").wait_for()
    assert "/web/clinician/" in clinician_page.url


def test_clinician__reads_the_journal_books_a_time_and_transfers_another_case(
        browser: Any, citizen_page: Any, clinician_page: Any, web_hub: WebHub, shots: Shots) -> None:
    citizen, page = citizen_page, clinician_page
    start_case_for_child(citizen, web_hub)
    task_id, unit = case_unit(citizen)
    log_in_to_workspace(page, web_hub, clinician_principal(unit))
    page.locator(f"#room-rows tr[data-task='{task_id}']").get_by_role("button", name=re.compile("Ta ärendet")).click()
    page.locator("#case-state[data-state=in-progress]").wait_for()

    page.get_by_role("button", name="Visa journal").click()
    page.wait_for_function("() => document.getElementById('journal').textContent.trim() !== ''")
    assert not page.locator("#journal").inner_text().startswith("Det gick inte")
    shots.take(page, "journal")

    page.get_by_role("button", name="Boka", exact=True).click()
    page.locator("#case-state[data-state=booked]").wait_for()
    assert page.locator("#action-result").inner_text() == "Tiden är bokad."
    citizen.locator("#case-status[data-state=booked]").wait_for()
    shots.take(page, "booked")
    shots.take(citizen, "citizen-booked")

    # The second case is the same family's, from a fresh phone (the first one is logged in).
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="sv-SE",
                                base_url=web_hub.base_url)
    phone.set_default_timeout(STEP_TIMEOUT_MS)
    citizen = phone.new_page()
    start_case_for_child(citizen, web_hub)
    second, _ = case_unit(citizen)
    row = page.locator(f"#room-rows tr[data-task='{second}']")
    row.get_by_role("button", name=re.compile("Ta ärendet")).click()
    page.locator("#case-state[data-state=in-progress]").wait_for()
    target = page.locator("#transfer-unit option").first.inner_text()
    page.get_by_label("Anledning").fill("Behöver bedömas av läkare på vårdcentralen.")
    page.get_by_role("button", name="Flytta", exact=True).click()
    page.locator("#announce", has_text="Ärendet är flyttat.").wait_for(state="attached")
    page.locator("#case").wait_for(state="hidden")
    assert not row.count()
    citizen.locator("#case-status[data-state=transferred]").wait_for()
    shots.take(page, f"transferred-to-{target}")
    phone.close()
