"""A unit's waiting room and the waiting citizen's place in it, through the HTTP API with access control on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.intake import FINDING_SYSTEM
from tests.integration.cases.workflow_world import (
    ANDERS,
    ANNA,
    DIG1,
    LILLY_PNR,
    MARIA,
    TOLVAN,
    WorkflowHub,
    workflow_hub,
)

NOW = datetime.now(UTC)


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def room(world: WorkflowHub, who: Any = ANNA, query: str = "") -> dict[str, Any]:
    r = world.get(who, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room{query}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def whole_minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_waiting_room__orders_by_urgency_then_answer_by_then_arrival(world: WorkflowHub) -> None:
    week = world.open_case(disposition="within-week", arrived=NOW - timedelta(hours=5))
    day_late = world.open_case(disposition="within-24h", arrived=NOW - timedelta(hours=3),
                               answer_by=NOW + timedelta(hours=20))
    day_soon = world.open_case(disposition="within-24h", arrived=NOW - timedelta(hours=1),
                               answer_by=NOW + timedelta(hours=2))
    urgent = world.open_case(disposition="urgent", arrived=NOW - timedelta(minutes=5))
    same_deadline_older = world.open_case(disposition="within-24h", arrived=NOW - timedelta(hours=4),
                                          answer_by=NOW + timedelta(hours=2))
    asked = datetime.now(UTC)
    bundle = room(world)
    answered = datetime.now(UTC)
    order = [e["resource"]["id"] for e in matches(bundle)]
    # urgent (priority urgent) sorts after within-24h (asap): the ActPriority order stat > asap > urgent > routine
    assert order == [same_deadline_older[0], day_soon[0], day_late[0], urgent[0], week[0]]
    assert bundle["type"] == "searchset" and bundle["total"] == 5
    first = matches(bundle)[0]
    waited = next(x for x in first["extension"] if x["url"].endswith("/waiting-time"))["valueDuration"]
    # The server reads its own clock while answering: the wait lies between the readings around the request.
    arrived = (NOW - timedelta(hours=4)).replace(microsecond=0)  # authoredOn keeps whole seconds
    assert waited["code"] == "min"
    assert whole_minutes(asked - arrived) <= waited["value"] <= whole_minutes(answered - arrived)
    assert whole_minutes(asked - arrived) >= 240
    patient = next(x for x in first["extension"] if x["url"].endswith("/waiting-for"))["valueReference"]
    included = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]
                if e["search"]["mode"] == "include"}
    assert ("Patient", patient["reference"].split("/")[1]) in included
    assert ("Encounter", same_deadline_older[1]) in included


def test_waiting_room__claimed_cases_leave_it_and_competence_filters(world: WorkflowHub) -> None:
    deadline = NOW + timedelta(hours=24)
    nurse = world.open_case(competence="nurse", arrived=NOW - timedelta(minutes=3), answer_by=deadline)
    doctor = world.open_case(competence="doctor", arrived=NOW - timedelta(minutes=2), answer_by=deadline)
    claimed = world.open_case(competence="nurse", arrived=NOW - timedelta(minutes=1), answer_by=deadline)
    assert world.op(ANNA, f"Task/{claimed[0]}/$claim").status_code == 200
    assert [e["resource"]["id"] for e in matches(room(world))] == [nurse[0], doctor[0]]
    assert [e["resource"]["id"] for e in matches(room(world, query="?competence=doctor"))] == [doctor[0]]
    assert room(world, query="?_count=1")["total"] == 2 and len(matches(room(world, query="?_count=1"))) == 1


def test_waiting_room__says_when_a_guardian_is_waiting_for_a_child(world: WorkflowHub) -> None:
    related = world.write({"resourceType": "RelatedPerson", "active": True,
                           "patient": {"reference": f"Patient/{world.id_of('Patient', LILLY_PNR)}"},
                           "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                         "code": "GUARD"}]}]})
    world.open_case(pnr=LILLY_PNR, author=f"RelatedPerson/{related}")
    [entry] = matches(room(world))
    person = next(x for x in entry["extension"] if x["url"].endswith("/waiting-person"))
    assert person["valueReference"] == {"reference": f"RelatedPerson/{related}"}


def test_waiting_room__names_each_cases_complaint_in_swedish_with_the_english_as_a_translation(
        world: WorkflowHub) -> None:
    _task, encounter = world.open_case()
    [entry] = matches(room(world))
    coding = next(x for x in entry["extension"] if x["url"].endswith("/waiting-complaint"))["valueCoding"]
    assert (coding["system"], coding["code"], coding["display"]) == (FINDING_SYSTEM, "complaint-cough", "Hosta")
    [translation] = coding["_display"]["extension"]
    assert translation == {"url": "http://hl7.org/fhir/StructureDefinition/translation",
                           "extension": [{"url": "lang", "valueCode": "en"}, {"url": "content", "valueString": "Cough"}]}
    # The name is the listing's; the stored Encounter keeps only the code, as intake wrote it.
    stored = world.get(ANNA, f"Encounter/{encounter}").json()
    assert stored["reasonCode"] == [{"coding": [{"system": FINDING_SYSTEM, "code": "complaint-cough"}]}]
    xml = world.get(ANNA, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room?_format=xml")
    assert xml.status_code == 200 and '<display value="Hosta">' in xml.text and 'value="Cough"' in xml.text


def test_waiting_room__is_for_the_units_own_staff(world: WorkflowHub) -> None:
    world.open_case()
    unit = world.id_of("Organization", DIG1)
    assert world.get(MARIA, f"Organization/{unit}/$waiting-room").status_code == 403
    assert world.get(TOLVAN, f"Organization/{unit}/$waiting-room").status_code == 403
    assert world.client.get(f"/fhir/Organization/{unit}/$waiting-room").status_code == 401


def test_waiting_room__listing_is_in_the_access_log(world: WorkflowHub) -> None:
    world.open_case()
    room(world)
    patient = f"Patient/{world.id_of('Patient', TOLVAN.person_id)}"
    # Anna has no log-review right: the log's own rules hide it from her; Tolvan reads his own log.
    assert world.get(ANNA, f"AuditEvent?patient={patient}").status_code == 403
    own = world.get(TOLVAN, f"AuditEvent?patient={patient}&_count=100").json()
    listed = [e["resource"] for e in own.get("entry", [])
              if any("$waiting-room" in x.get("description", "") for x in e["resource"].get("entity", []))]
    assert [e["agent"][0]["altId"] for e in listed] == [ANNA.employee_hsa_id]


def test_queue_position__counts_the_cases_ahead_and_estimates_from_recent_claims(world: WorkflowHub) -> None:
    for minutes_ago in (50, 40, 30):
        done = world.open_case(arrived=NOW - timedelta(minutes=minutes_ago + 20))
        assert world.op(ANNA, f"Task/{done[0]}/$claim").status_code == 200
    deadline = NOW + timedelta(hours=24)
    world.open_case(arrived=NOW - timedelta(minutes=10), answer_by=deadline)
    world.open_case(arrived=NOW - timedelta(minutes=9), answer_by=deadline)
    mine, _ = world.open_case(arrived=NOW - timedelta(minutes=8), answer_by=deadline)
    r = world.get(TOLVAN, f"Task/{mine}/$queue-position")
    assert r.status_code == 200, r.text
    values = {p["name"]: p for p in r.json()["parameter"]}
    assert values["state"]["valueCode"] == "waiting" and values["position"]["valueInteger"] == 3
    # Three claims in the last two hours: 0.025 a minute, so three cases take 120 minutes.
    assert values["estimated-wait"]["valueDuration"]["value"] == 120
    assert world.get(ANDERS, f"Task/{mine}/$queue-position").status_code == 404


def test_queue_position__no_estimate_before_the_unit_has_claimed_anything(world: WorkflowHub) -> None:
    mine, _ = world.open_case()
    values = {p["name"]: p for p in world.get(TOLVAN, f"Task/{mine}/$queue-position").json()["parameter"]}
    assert values["position"]["valueInteger"] == 1 and "estimated-wait" not in values


def test_follow_up__the_citizen_answers_while_waiting_and_the_clinician_sees_it(world: WorkflowHub) -> None:
    _task_id, encounter_id = world.open_case()
    patient = f"Patient/{world.id_of('Patient', TOLVAN.person_id)}"
    follow_up = {"resourceType": "QuestionnaireResponse", "status": "completed", "subject": {"reference": patient},
                 "encounter": {"reference": f"Encounter/{encounter_id}"}, "author": {"reference": patient},
                 "item": [{"linkId": "worse", "text": "Har det blivit värre?", "answer": [{"valueBoolean": True}]}]}
    r = world.client.post("/fhir/QuestionnaireResponse", headers=world.headers(TOLVAN), json=follow_up)
    assert r.status_code == 201, r.text
    found = world.get(ANNA, f"QuestionnaireResponse?encounter=Encounter/{encounter_id}").json()
    assert r.json()["id"] in [e["resource"]["id"] for e in found["entry"]]
    assert world.get(MARIA, f"QuestionnaireResponse/{r.json()['id']}").status_code == 404


def follow(world: WorkflowHub, url: str) -> dict[str, Any]:
    r = world.get(ANNA, url.split("/fhir/", 1)[1])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def next_url(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def test_waiting_room__next_links_page_through_every_case_in_order(world: WorkflowHub) -> None:
    # Same urgency and deadline, arrivals a minute apart: the order is the arrival order.
    deadline = NOW + timedelta(hours=24)
    opened = [world.open_case(arrived=NOW - timedelta(minutes=50 - i), answer_by=deadline)[0] for i in range(5)]
    page = room(world, query="?_count=2")
    seen, pages = [], 0
    while True:
        pages += 1
        assert page["total"] == 5
        seen += [e["resource"]["id"] for e in matches(page)]
        url = next_url(page)
        if url is None:
            break
        assert "after=" in url and "_count=2" in url and "_offset" not in url
        page = follow(world, url)
    assert seen == opened and pages == 3


def test_waiting_room__next_page_stays_right_while_cases_are_claimed_and_arrive(world: WorkflowHub) -> None:
    deadline = NOW + timedelta(hours=24)
    opened = [world.open_case(arrived=NOW - timedelta(minutes=50 - i), answer_by=deadline)[0] for i in range(6)]
    first = room(world, query="?_count=2")
    assert [e["resource"]["id"] for e in matches(first)] == opened[:2]
    # Meanwhile: both cases shown and one not yet shown are claimed, and two arrive (one at the front).
    for task_id in (opened[0], opened[1], opened[3]):
        assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    front = world.open_case(disposition="emergency-department", arrived=NOW - timedelta(hours=2))[0]
    back = world.open_case(arrived=NOW, answer_by=deadline)[0]
    url = next_url(first)
    assert url is not None
    second = follow(world, url)
    # An offset of 2 would now skip opened[2] and opened[4]; the key goes on after opened[1].
    assert [e["resource"]["id"] for e in matches(second)] == [opened[2], opened[4]]
    url = next_url(second)
    assert url is not None
    third = follow(world, url)
    assert [e["resource"]["id"] for e in matches(third)] == [opened[5], back] and next_url(third) is None
    assert front not in {e["resource"]["id"] for p in (second, third) for e in matches(p)}  # it is on page one now
    assert [e["resource"]["id"] for e in matches(room(world, query="?_count=1"))] == [front]


def test_waiting_room__a_page_token_that_is_not_one_is_a_bad_request(world: WorkflowHub) -> None:
    r = world.get(ANNA, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room?after=bm90LWEta2V5")
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["after"] or issue.get("location") == ["after"]
    assert "page token" in issue["diagnostics"]
