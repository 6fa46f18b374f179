"""The journal note of a closed case: a valid R4 document whose sections say what happened, in Swedish."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cases.intake import CASE_STATE_SYSTEM
from cases.journal_note import ClosedCase, clinician_text, journal_document, note_identifier
from fhir_api.validation import validate_resource

BASE = "https://hub.example/fhir"
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def case(**overrides: Any) -> ClosedCase:
    """Return a small closed case; override any part."""
    task = {"resourceType": "Task", "id": "t1", "status": "completed", "intent": "order", "priority": "asap",
            "for": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
            "owner": {"reference": "PractitionerRole/r1"},
            "note": [{"text": "Väntar i väntrummet"},
                     {"authorReference": {"reference": "PractitionerRole/r1"}, "text": "Trolig virusinfektion.\n\nEgenvård <3 dagar."}],
            "output": [{"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "disposition"}]},
                        "valueCodeableConcept": {"coding": [{"code": "within-24h"}]}},
                       {"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "rules-fired"}]},
                        "valueString": "fever-3-days"}]}
    values: dict[str, Any] = {
        "task": task,
        "encounter": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                      "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}},
        "patient": {"resourceType": "Patient", "id": "p1"},
        "response": {"resourceType": "QuestionnaireResponse", "id": "q1", "status": "completed",
                     "item": [{"linkId": "a", "text": "Har du feber?", "answer": [{"valueBoolean": True}]}]},
        "communications": [
            {"resourceType": "Communication", "id": "c2", "status": "completed", "sent": "2026-01-05T09:12:00Z",
             "sender": {"reference": "Patient/p1"}, "payload": [{"contentString": "Svar"}]},
            {"resourceType": "Communication", "id": "c1", "status": "completed", "sent": "2026-01-05T09:10:00Z",
             "sender": {"reference": "PractitionerRole/r1"}, "payload": [{"contentString": "Fråga"}]},
        ],
        "media": [{"resourceType": "Media", "id": "m1", "status": "completed",
                   "content": {"contentType": "image/png", "title": "Halsen", "data": "AAAA"}}],
        "author": {"resourceType": "PractitionerRole", "id": "r1"},
        "custodian": {"resourceType": "Organization", "id": "o1", "name": "Enheten"},
        "names": {"PractitionerRole/r1": "Sara", "Patient/p1": "Patient"},
    }
    values.update(overrides)
    return ClosedCase(**values)


def document(c: ClosedCase | None = None) -> dict[str, Any]:
    return journal_document(c or case(), identifier=note_identifier("t1", 4), base_url=BASE, now=NOW)


def sections(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["title"]: s for s in doc["entry"][0]["resource"]["section"]}


def test_document__validates_as_an_r4_document_bundle_with_the_composition_first() -> None:
    doc = document()

    validate_resource(doc, "Bundle")
    assert doc["type"] == "document"
    assert doc["entry"][0]["resource"]["resourceType"] == "Composition"
    assert doc["identifier"] == {"system": "https://ingang.example/fhir/NamingSystem/journal-note", "value": "Task-t1-4"}


def test_document__every_reference_in_the_composition_resolves_inside_the_bundle() -> None:
    doc = document()
    full_urls = {e["fullUrl"] for e in doc["entry"]}
    composition = doc["entry"][0]["resource"]
    refs = [composition["subject"], composition["encounter"], composition["custodian"], *composition["author"]]
    refs += [e for s in composition["section"] for e in s.get("entry", [])]

    assert {r["reference"] for r in refs} <= full_urls
    assert composition["author"] == [{"reference": f"{BASE}/PractitionerRole/r1"}]
    assert composition["custodian"] == {"reference": f"{BASE}/Organization/o1"}


def test_document__has_the_answers_assessment_chat_photos_and_note_sections_in_swedish() -> None:
    found = sections(document())

    assert "Har du feber?: <b>Ja</b>" in found["Patientens svar på symptomfrågor"]["text"]["div"]
    assessment = found["Automatisk bedömning"]["text"]["div"]
    assert "Bedömning: Inom ett dygn" in assessment and "Regler som utlöstes: fever-3-days" in assessment
    assert "Halsen" in found["Bilder"]["text"]["div"]
    assert "<p>Trolig virusinfektion.</p><p>Egenvård &lt;3 dagar.</p>" in found["Vårdpersonalens anteckning"]["text"]["div"]


def test_document__chat_is_in_the_order_it_was_sent_with_who_said_it() -> None:
    chat = sections(document())["Chatt med patienten"]

    div = chat["text"]["div"]
    assert div.index("<b>Sara</b>: Fråga") < div.index("<b>Patient</b>: Svar")
    assert chat["entry"] == [{"reference": f"{BASE}/Communication/c2"}, {"reference": f"{BASE}/Communication/c1"}]


def test_document__photos_go_by_reference_without_their_bytes() -> None:
    media = next(e["resource"] for e in document()["entry"] if e["resource"]["resourceType"] == "Media")

    assert "data" not in media["content"]
    assert media["content"]["title"] == "Halsen"


def test_document__a_case_without_chat_or_photos_says_so_and_still_validates() -> None:
    doc = document(case(communications=(), media=(), response=None))

    validate_resource(doc, "Bundle")
    found = sections(doc)
    assert "Ingen chatt förekom." in found["Chatt med patienten"]["text"]["div"]
    assert found["Chatt med patienten"]["emptyReason"]["coding"][0]["code"] == "nilknown"
    assert found["Patientens svar på symptomfrågor"]["emptyReason"]["coding"][0]["code"] == "unavailable"


def test_document__is_the_same_on_every_retry_of_one_closing() -> None:
    assert document() == document()


def test_clinician_text__prefers_notes_written_by_staff_over_routing_messages() -> None:
    task = {"note": [{"text": "Väntar"}, {"authorString": "Sara", "text": "Min anteckning"}]}

    assert clinician_text(task) == "Min anteckning"
    assert clinician_text({"note": [{"text": "Bara ett meddelande"}]}) == "Bara ett meddelande"
