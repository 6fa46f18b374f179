"""What the live layer pushes about cases and bookings: the complaint's name, and a booking to its encounter."""

from __future__ import annotations

from typing import Any

from communication.events import appointment_events, case_events
from hub.complaints import complaint_of, named_complaint
from triage.fhir_io import TRANSLATION_URL
from triage.vocabulary import FINDING_SYSTEM

RASH = "complaint-rash-or-itching"


def _encounter(*codings: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Encounter", "status": "arrived", "reasonCode": [{"coding": list(codings)}]}


def _english(coding: dict[str, Any]) -> str:
    [translation] = coding["_display"]["extension"]
    assert translation["url"] == TRANSLATION_URL
    parts = {p["url"]: p.get("valueCode", p.get("valueString")) for p in translation["extension"]}
    assert parts["lang"] == "en"
    return str(parts["content"])


def test_complaint_of__names_the_code_in_swedish_with_the_english_as_a_translation() -> None:
    coding = complaint_of(_encounter({"system": FINDING_SYSTEM, "code": RASH}))
    assert coding is not None
    assert (coding["system"], coding["code"], coding["display"]) == (FINDING_SYSTEM, RASH, "Utslag eller klåda")
    assert _english(coding) == "Rash or itching"


def test_complaint_of__skips_codings_of_other_systems_and_is_none_without_a_complaint() -> None:
    other = {"system": "http://snomed.info/sct", "code": "271807003", "display": "Eruption"}
    found = complaint_of(_encounter(other, {"system": FINDING_SYSTEM, "code": "complaint-cough"}))
    assert found is not None and found["display"] == "Hosta"
    assert complaint_of(_encounter(other)) is None
    assert complaint_of({"resourceType": "Encounter"}) is None
    assert complaint_of(None) is None
    assert complaint_of({"reasonCode": ["not a concept", {"coding": ["not a coding"]}]}) is None


def test_named_complaint__an_unknown_code_keeps_the_display_it_came_with() -> None:
    assert named_complaint("complaint-newer-hub", "Nytt besvär") == {
        "system": FINDING_SYSTEM, "code": "complaint-newer-hub", "display": "Nytt besvär"}
    assert named_complaint("complaint-newer-hub") == {"system": FINDING_SYSTEM, "code": "complaint-newer-hub"}


def test_case_events__carry_the_named_complaint_to_the_waiting_room_and_the_encounter() -> None:
    task = {"resourceType": "Task", "status": "ready", "owner": {"reference": "Organization/u"},
            "encounter": {"reference": "Encounter/e"}, "businessStatus": {"coding": [{"code": "waiting"}]}}
    complaint = named_complaint(RASH)
    events = case_events("Task", task, res_id="t", version=1, method="create", units={"u"}, complaint=complaint)
    assert [e.topic for e in events] == ["waiting-room/u", "encounter/e"]
    assert all(e.message["complaint"] == complaint for e in events)
    assert "complaint" not in case_events("Task", task, res_id="t", version=1, method="create", units={"u"})[0].message


def test_appointment_events__go_to_each_encounter_it_was_booked_for_with_ids_and_status_only() -> None:
    appointment = {"resourceType": "Appointment", "status": "booked", "comment": "Knäsmärta",
                   "participant": [{"actor": {"reference": "Patient/p"}, "status": "accepted"}],
                   "supportingInformation": [{"reference": "Encounter/e2"}, {"reference": "Encounter/e1"},
                                             {"reference": "Observation/o"}]}
    events = appointment_events(appointment, res_id="a", version=1, method="create")
    assert [e.topic for e in events] == ["encounter/e1", "encounter/e2"]
    assert events[0].message == {"type": "appointment", "id": "a", "version": 1, "method": "create",
                                 "status": "booked", "encounter": "e1"}


def test_appointment_events__a_deleted_booking_is_told_to_the_encounters_of_its_last_version() -> None:
    before = {"resourceType": "Appointment", "status": "booked", "supportingInformation": [{"reference": "Encounter/e"}]}
    [event] = appointment_events({}, res_id="a", version=3, method="delete", booked_for=before)
    assert event.topic == "encounter/e"
    assert (event.message["method"], event.message["status"]) == ("delete", None)
    assert appointment_events({"resourceType": "Appointment", "status": "booked"}, res_id="b", version=1,
                              method="create") == []
