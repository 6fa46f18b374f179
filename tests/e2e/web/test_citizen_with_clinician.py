"""The citizen's side of a case a clinician takes: claimed, chat both ways, video, closed.

The citizen uses the pages in a phone-sized context; the clinician is a second browser context
that talks to the same public API the workspace uses — a token from the workspace's SMART
client, the FHIR step operations, and the encounter socket with the shared live.js and
video.js — so the citizen's screens are tested against a real second party, fake camera
included. Screenshots of each step go to the CI artefacts.
https://hl7.org/fhir/R4/communication.html, https://www.w3.org/TR/webrtc/
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.web.conftest import (
    STEP_TIMEOUT_MS,
    Shots,
    WebHub,
    clinician_principal,
    clinician_token,
)
from tests.e2e.web.test_citizen import start_case_for_child

pytestmark = pytest.mark.e2e
HSA = "urn:oid:1.2.752.29.4.19"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
# The clinician's half, run in their page: the encounter socket and a video call, as the workspace does.
CLINICIAN_SIDE = """async ([encounterId, token]) => {
  const { EncounterSocket, chatText } = await import("/web/static/live.js");
  const { VideoCall } = await import("/web/static/video.js");
  const make = () => { const v = document.createElement("video"); v.muted = true; v.autoplay = true;
                       v.playsInline = true; document.body.append(v); return v; };
  const state = { frames: [], messages: [], call: "idle" };
  let call = null;
  let replayed;
  const ready = new Promise((resolve) => { replayed = resolve; });
  const socket = new EncounterSocket(encounterId, {
    getToken: async () => token,
    onFrame: (frame) => {
      state.frames.push(frame.type);
      if (frame.type === "replayed") replayed();
      if (frame.type === "message") state.messages.push(chatText(frame.resource).text);
      if (["offer", "answer", "ice-candidate", "hang-up"].includes(frame.type)) call.signal(frame);
    },
  });
  call = new VideoCall({ send: (f) => socket.send(f), polite: false, localVideo: make(), remoteVideo: make(),
                         onState: (s) => { state.call = s; } });
  window.clinician = { socket, call, state };
  socket.connect();
  await ready;
}"""


@pytest.fixture
def clinician_page(browser: Any, web_hub: WebHub) -> Iterator[Any]:
    """A desktop context for the clinician's half, camera and microphone allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="sv-SE",
                                  permissions=["camera", "microphone"], base_url=web_hub.base_url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    page.goto(web_hub.url("/web/citizen/"))  # any page of the hub's origin can host the modules
    yield page
    context.close()


def _unit_of_case(page: Any) -> tuple[str, str]:
    """Return the case Task's id and the HSA-id of the unit that owns it, read as the citizen may."""
    return tuple(page.evaluate("""async (hsa) => {
        const app = window.ingangCitizen;
        const task = app.caseView.task;
        const unit = await app.api.read("Organization", task.owner.reference.split("/")[1]);
        return [task.id, unit.identifier.find((i) => i.system === hsa).value];
    }""", HSA))


def _step(hub: WebHub, token: str, task_id: str, operation: str, parameters: list[dict[str, Any]]) -> None:
    response = httpx.post(hub.url(f"/fhir/Task/{task_id}/${operation}"), headers={**FHIR_JSON, "Authorization": f"Bearer {token}"},
                          json={"resourceType": "Parameters", "parameter": parameters})
    assert response.status_code == 200, response.text


def test_citizen__chats_and_joins_video_with_the_clinician_who_took_the_case_and_sees_it_closed(
        citizen_page: Any, clinician_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    encounter_id = start_case_for_child(page, web_hub, shots)
    task_id, unit = _unit_of_case(page)
    token = clinician_token(web_hub, clinician_principal(unit))

    _step(web_hub, token, task_id, "claim", [])
    page.locator("#case-status[data-state=in-progress]").wait_for()
    assert page.locator("#case-status").inner_text() == "En behandlare har tagit ditt ärende."
    shots.take(page, "claimed")

    clinician_page.evaluate(CLINICIAN_SIDE, [encounter_id, token])
    clinician_page.evaluate("() => window.clinician.socket.send({type: 'send', text: 'Hej! Hur mår Lilly nu?'})")
    page.locator("#chat-log li.theirs", has_text="Hej! Hur mår Lilly nu?").wait_for()
    assert page.locator("#chat-log").get_attribute("role") == "log"
    page.get_by_label("Ditt meddelande").fill("Hon kliar sig mycket men är pigg.")
    page.get_by_role("button", name="Skicka", exact=True).first.click()
    clinician_page.wait_for_function(
        "() => window.clinician.state.messages.includes('Hon kliar sig mycket men är pigg.')")
    shots.take(page, "chat")

    clinician_page.evaluate("() => window.clinician.call.join()")
    page.locator("#video-state", has_text="Vården ringer upp dig").wait_for()
    page.get_by_role("button", name="Gå med i videosamtalet").click()
    page.locator("#video-state", has_text="Samtalet är kopplat.").wait_for()
    page.wait_for_function("() => document.getElementById('video-remote').videoWidth > 0")
    clinician_page.wait_for_function("() => window.clinician.state.call === 'connected'")
    shots.take(page, "video")
    page.get_by_role("button", name="Lägg på").click()
    clinician_page.wait_for_function("() => window.clinician.state.call === 'ended'")

    _step(web_hub, token, task_id, "close", [{"name": "outcome", "valueCode": "advice-given"},
                                              {"name": "note", "valueString": "Råd om klåda och kortisonkräm."}])
    page.locator("#case-status[data-state=closed]").wait_for()
    assert page.locator("#case-status").inner_text().startswith("Ärendet är avslutat.")
    assert page.locator("#chat-state").inner_text() == "Chatten är stängd."
    assert not page.locator("#withdraw-card").is_visible()
    shots.take(page, "closed")


def test_booking__citizen_page_shows_it_without_reload(citizen_page: Any, web_hub: WebHub, shots: Shots) -> None:
    page = citizen_page
    encounter_id = start_case_for_child(page, web_hub)
    _task_id, unit = _unit_of_case(page)
    token = clinician_token(web_hub, clinician_principal(unit))
    # The case stays waiting (no claim, no close-case): only the booking itself can tell the page.
    page.evaluate("() => { window.notReloaded = true; }")
    headers = {**FHIR_JSON, "Authorization": f"Bearer {token}"}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    found = httpx.get(web_hub.url("/fhir/Slot"), headers=headers,
                      params={"status": "free", "start": f"ge{now}", "_count": "50"})
    assert found.status_code == 200, found.text
    booked, answer = None, found
    for entry in found.json().get("entry", []):
        answer = httpx.post(web_hub.url(f"/fhir/Slot/{entry['resource']['id']}/$book"), headers=headers,
                            json={"resourceType": "Parameters", "parameter": [
                                {"name": "encounter", "valueReference": {"reference": f"Encounter/{encounter_id}"}}]})
        if answer.status_code in (200, 201):
            booked = entry["resource"]
            break
    assert booked is not None, f"no demo Slot could be booked for the case: {answer.text[:600]}"

    start = datetime.fromisoformat(booked["start"]).astimezone(ZoneInfo("Europe/Stockholm"))
    # The child may have other bookings from earlier tests: find this one by its day and time.
    this_booking = re.compile(rf"\b{start.day}\b.*{start.year}.*{start:%H:%M}")
    page.locator("#bookings-list li", has_text=this_booking).wait_for()
    listed = page.locator("#bookings-list li").all_inner_texts()
    assert sum(1 for text in listed if this_booking.search(text)) == 1, listed
    assert page.evaluate("() => window.notReloaded === true")
    assert page.locator("#case-status[data-state=waiting]").count() == 1
    shots.take(page, "booked")
