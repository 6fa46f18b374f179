"""A parent starts a case for their child in the browser, answers, attaches a photo and waits.

The scenario runs in Chromium at phone size against a hub process with access control on, the
way a family uses 1177 direkt at midnight; each step is saved as a screenshot for the CI
artefacts. The steps are conftest functions, so the clinician's side can continue this case.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.web.conftest import (
    CITIZEN,
    Shots,
    WebHub,
    answer_triage,
    assert_accessible,
    log_in_as_parent_for_child,
    log_in_with_dev_login,
    png_photo,
)

pytestmark = pytest.mark.e2e

# A rash after a new medicine: a doctor within a day, so the case goes to the waiting room.
RASH_AFTER_NEW_MEDICINE = {"nytt läkemedel": "Ja", "antal dygn": "2"}


def start_case_for_child(page: Any, hub: WebHub, shots: Shots | None = None) -> str:
    """Log in as the demo parent for their child and answer until the waiting room; return the Encounter id."""
    log_in_as_parent_for_child(page, hub)
    if shots:
        shots.take(page, "who")
    page.get_by_role("button", name="Börja svara på frågorna").click()
    page.locator("#view-question").wait_for(state="visible")
    if shots:
        shots.take(page, "first-question")
    view = answer_triage(page, "Utslag eller klåda", RASH_AFTER_NEW_MEDICINE)
    assert view == "case", f"the triage ended on {view!r}, not in the waiting room"
    page.wait_for_url(re.compile(r"#case/"))
    page.locator("#case-status[data-state=waiting]").wait_for()
    return page.url.rsplit("#case/", 1)[1]


def test_parent__starts_a_case_for_their_child_and_lands_in_the_waiting_room(
        citizen_page: Any, web_hub: WebHub, shots: Shots, tmp_path: Path) -> None:
    page = citizen_page
    page.goto(web_hub.url("/"))
    page.locator("#view-start").wait_for(state="visible")
    shots.take(page, "start")
    assert page.locator("a[href='tel:112']").first.is_visible()

    encounter_id = start_case_for_child(page, web_hub, shots)
    shots.take(page, "waiting-room")
    assert page.locator("#case-for").inner_text() == "Ärendet gäller Lilly Testsson."
    status = page.locator("#case-status").inner_text()
    assert "kön" in status or "näst på tur" in status, status
    assert_accessible(page, "the waiting room")

    page.locator("#photo-file").set_input_files(str(png_photo(tmp_path / "rash.png")))
    page.get_by_role("button", name="Skicka bilden").click()
    page.locator("#photo-result", has_text="Bilden är skickad.").wait_for()
    shots.take(page, "photo-sent")

    page.locator("#followup-worse").check()
    page.locator("#followup-text").fill("Utslagen kliar mer i kväll.")
    page.get_by_role("button", name="Skicka", exact=True).last.click()
    page.locator("#followup-result", has_text="Tack").wait_for()

    page.reload()
    page.locator("#case-status[data-state=waiting]").wait_for()
    assert page.url.endswith(f"#case/{encounter_id}")
    shots.take(page, "waiting-room-after-reload")

    page.get_by_label("Ditt meddelande").fill("Hon har fått utslag på armarna.")
    page.get_by_role("button", name="Skicka", exact=True).first.click()
    page.locator("#chat-log li.mine", has_text="Hon har fått utslag på armarna.").wait_for()
    assert page.get_by_label("Ditt meddelande").input_value() == ""
    shots.take(page, "chat-while-waiting")


def test_parent__goes_back_and_changes_an_answer_before_sending(citizen_page: Any, web_hub: WebHub) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    page.get_by_role("button", name="Börja svara på frågorna").click()
    page.locator("#q-input label", has_text="Utslag eller klåda").click()
    page.get_by_role("button", name="Nästa").click()
    page.wait_for_function("() => !document.getElementById('q-legend').textContent.startsWith('Vad söker du för')")
    first = page.locator("#q-legend").inner_text()
    page.locator("#q-input label", has_text=re.compile(r"^\s*Ja\s*$")).click()
    page.get_by_role("button", name="Nästa").click()
    page.wait_for_function("(first) => document.getElementById('q-legend').textContent !== first", arg=first)

    page.get_by_role("button", name="Tillbaka").click()
    assert page.locator("#q-legend").inner_text() == first
    assert page.locator("#q-input input[type=radio]:checked + span").inner_text() == "Ja"
    page.locator("#q-input label", has_text=re.compile(r"^\s*Nej\s*$")).click()
    page.get_by_role("button", name="Nästa").click()
    page.wait_for_function("(first) => document.getElementById('q-legend').textContent !== first", arg=first)
    assert page.locator("#q-progress-text").inner_text() == "Fråga 3"


def test_parent__who_logs_in_for_themselves_after_choosing_the_child_is_told_to_log_in_again(
        citizen_page: Any, web_hub: WebHub) -> None:
    page = citizen_page
    page.goto(web_hub.url("/"))
    page.get_by_label("Mitt barn").check()
    page.get_by_role("button", name="Logga in").click()
    log_in_with_dev_login(page, CITIZEN)
    page.wait_for_url(re.compile(r"/auth/choose"))
    page.get_by_role("button", name="Mig själv").click()
    page.locator("#view-who").wait_for(state="visible")
    assert page.locator("#who-relation").inner_text() == "dig själv"
    assert page.locator("#who-mismatch").is_visible()


def test_citizen__sees_the_emergency_screen_with_tap_to_call_112(
        citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    page.get_by_role("button", name="Börja svara på frågorna").click()
    view = answer_triage(page, "Andningsbesvär eller andnöd", {}, default="Ja")
    assert view == "emergency"
    shots.take(page, "emergency")
    assert page.locator("#emergency-heading").inner_text() in ("Ring 112 nu", "Åk till akutmottagningen nu")
    assert page.get_by_role("link", name="Ring 112").last.get_attribute("href") == "tel:112"
    assert_accessible(page, "the emergency screen")


def test_parent__withdraws_the_case_from_the_waiting_room(citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    start_case_for_child(page, web_hub)
    page.get_by_role("button", name="Ta tillbaka ärendet").click()
    page.get_by_label("Berätta gärna varför (frivilligt)").fill("Det gick över.")
    page.get_by_role("button", name="Ja, ta tillbaka").click()
    page.locator("#case-status[data-state=withdrawn]").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == "Du har tagit tillbaka ärendet"
    assert not page.locator("#photo-card").is_visible()
    assert page.locator("#chat-state").inner_text() == "Chatten är stängd."
    shots.take(page, "withdrawn")


def test_photos__from_the_camera_and_the_gallery_are_shown_then_sent_together(
        citizen_page: Any, web_hub: WebHub, tmp_path: Path) -> None:
    page = citizen_page
    encounter_id = start_case_for_child(page, web_hub)
    assert page.locator("#photo-camera").get_attribute("capture") == "environment"
    assert page.locator("#photo-file").get_attribute("capture") is None, "the gallery must not force the camera"
    page.get_by_label("Ta en bild med kameran").set_input_files(str(png_photo(tmp_path / "kamera.png")))
    page.get_by_label("Välj bilder från galleriet").set_input_files(
        [str(png_photo(tmp_path / "arm.png")), str(png_photo(tmp_path / "ben.png"))])
    chosen = page.get_by_role("list", name="Bilder att skicka")
    assert [chosen.get_by_role("img").nth(i).get_attribute("alt") for i in range(3)] == ["kamera.png", "arm.png",
                                                                                        "ben.png"]
    page.get_by_role("button", name="Skicka bilden").click()
    page.locator("#photo-result", has_text="3 bilder är skickade.").wait_for()
    assert chosen.is_hidden()
    stored = page.evaluate("async (id) => (await window.ingangCitizen.api.resources('Media', "
                           "{ encounter: `Encounter/${id}` })).length", encounter_id)
    assert stored == 3


def test_photo_the_hub_refuses__is_explained_in_the_hubs_words(citizen_page: Any, web_hub: WebHub,
                                                                tmp_path: Path) -> None:
    page = citizen_page
    start_case_for_child(page, web_hub)
    fake = tmp_path / "not-a-photo.png"
    fake.write_bytes(b"this is text, not a picture")
    page.locator("#photo-file").set_input_files(str(fake))
    page.get_by_role("button", name="Skicka bilden").click()
    result = page.locator("#photo-result", has_text="Något gick fel:")
    result.wait_for()
    assert result.inner_text() == ("Något gick fel: Bilden kunde inte läsas. Skicka ett foto i formatet JPEG, "
                                   "PNG eller HEIC.")


def test_questions__follow_the_language_the_citizen_chooses(citizen_page: Any, web_hub: WebHub) -> None:
    page = citizen_page
    log_in_as_parent_for_child(page, web_hub)
    page.get_by_role("button", name="Börja svara på frågorna").click()
    page.locator("#view-question").wait_for(state="visible")
    assert page.locator("#q-legend").inner_text() == "Vad söker du för?"
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#q-legend").inner_text() == "What is your main problem?"
    assert page.get_by_role("button", name="Next").is_visible()
    # The answer options too, from the translations the engine sends with them.
    assert page.get_by_label("Abdominal pain", exact=True).count() == 1
    assert page.get_by_label("Ont i magen", exact=True).count() == 0
