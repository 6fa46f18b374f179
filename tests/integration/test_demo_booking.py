"""The embedded default has times to book: each demo unit's staff have free Slots for 14 days.

The hub is built as `create_app` builds it, with access control on and the demo data, on SQLite
and PostgreSQL. Erik (doctor at VC01) finds a time with the unit's physiotherapist by FHIR
search and books it for his patient's case; a restart neither duplicates a time nor frees the
booked one, and a later start adds only the days that have come into the window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from cases.principals import HSA_SYSTEM
from hub.app import create_app
from hub.demo import DEMO_SCHEDULE, WINDOW_DAYS, add_demo_times, opening_hours
from mappings.hsa import SWEDEN
from tests.conftest import hub_settings
from tests.integration.cases.workflow_world import ANNA, ERIK_VC01, TOLVAN, VC01, WorkflowHub, workflow_hub

UNITS = ("DIG1", "VC01", "VC02", "PSY1", "JOUR")
PHYSIOTHERAPIST = "http://snomed.info/sct|36682004"
PHYSIOTHERAPY = "http://terminology.hl7.org/CodeSystem/service-type|65"


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def matches(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]


def demo_slots(world: WorkflowHub) -> dict[str, list[dict[str, Any]]]:
    """Return every Slot of each demo Schedule, by the Schedule's identifier, read from the store."""
    server, found = world.hub.fhir, {}
    with server.unit_of_work(False) as conn:
        for hours in opening_hours():
            [schedule] = server.matcher.ids(conn, "Schedule", [("identifier", f"{DEMO_SCHEDULE}|{hours.identifier}")])
            ids = server.matcher.ids(conn, "Slot", [("schedule", f"Schedule/{schedule}")])
            found[hours.identifier] = [stored.json() for i in ids if (stored := server.repo.read(conn, "Slot", i))]
    return found


def local(instant: str) -> datetime:
    return datetime.fromisoformat(instant).astimezone(SWEDEN)


def assert_full_weekdays(world: WorkflowHub, first: date, last: date) -> None:
    """Every weekday from first to last has each Schedule's whole day of times, once; weekends none."""
    slots = demo_slots(world)
    for hours in opening_hours():
        starts = [local(s["start"]) for s in slots[hours.identifier]]
        assert len(starts) == len(set(starts)), f"{hours.identifier} has a time twice"
        per_day = Counter(s.date() for s in starts)
        whole_day = (hours.closes.hour * 60 + hours.closes.minute - hours.opens.hour * 60 - hours.opens.minute)
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            expected = 0 if day.weekday() >= 5 else whole_day // hours.minutes
            assert per_day[day] == expected, f"{hours.identifier} on {day}"


def test_fresh_demo_hub__every_unit_has_free_times_in_the_window_found_by_search(world: WorkflowHub) -> None:
    now = datetime.now(UTC)
    until = now + timedelta(days=WINDOW_DAYS)
    for unit in UNITS:
        roles = matches(world.get(ANNA, f"PractitionerRole?organization.identifier={HSA_SYSTEM}|SE2321000000-{unit}"))
        free = [slot for role in roles for slot in matches(world.get(
            ANNA, f"Slot?schedule.actor=PractitionerRole/{role['id']}&status=free"
                  f"&start=ge{now:%Y-%m-%dT%H:%M:%SZ}&start=lt{until:%Y-%m-%dT%H:%M:%SZ}&_count=500"))]
        assert free, f"{unit} has no free time"
        for slot in free:
            start, end = local(slot["start"]), local(slot["end"])
            assert start.weekday() < 5 and start.hour >= 8 and end.hour * 60 + end.minute <= 17 * 60
            assert end - start in (timedelta(minutes=15), timedelta(minutes=30))
    today = now.astimezone(SWEDEN).date()
    assert_full_weekdays(world, today + timedelta(days=1), today + timedelta(days=WINDOW_DAYS - 1))


def test_clinician__finds_a_time_with_the_units_physiotherapist_and_books_it_for_a_case(world: WorkflowHub) -> None:
    _task, encounter = world.open_case(unit=VC01)
    [physio] = matches(world.get(ERIK_VC01, f"PractitionerRole?organization.identifier={HSA_SYSTEM}|{VC01}"
                                            f"&role={PHYSIOTHERAPIST}"))
    now = f"{datetime.now(UTC) + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
    free = matches(world.get(ERIK_VC01, f"Slot?schedule.actor=PractitionerRole/{physio['id']}&status=free"
                                        f"&start=ge{now}"))
    by_service = matches(world.get(ERIK_VC01, f"Slot?service-type={PHYSIOTHERAPY}&status=free&start=ge{now}"))
    assert free and {s["id"] for s in free} <= {s["id"] for s in by_service}
    slot = free[0]

    r = world.op(ERIK_VC01, f"Slot/{slot['id']}/$book", encounter={"reference": f"Encounter/{encounter}"})
    assert r.status_code == 201, r.text
    appointment = r.json()
    assert appointment["status"] == "booked" and appointment["start"] == slot["start"]
    actors = {p["actor"]["reference"] for p in appointment["participant"]}
    assert {f"PractitionerRole/{physio['id']}", f"Patient/{world.id_of('Patient', TOLVAN.person_id)}"} <= actors
    assert appointment["serviceType"][0]["coding"][0]["code"] == "65"
    assert world.get(ERIK_VC01, f"Slot/{slot['id']}").json()["status"] == "busy"
    again = world.op(ERIK_VC01, f"Slot/{slot['id']}/$book", encounter={"reference": f"Encounter/{encounter}"})
    assert again.status_code == 409


def test_restart__adds_no_time_twice_and_a_booked_time_stays_busy(world: WorkflowHub, database_url: str) -> None:
    _task, encounter = world.open_case(unit=VC01)
    before = demo_slots(world)
    booked = next(s for s in before["SE2321000000-P010-vc-norr"]
                  if local(s["start"]) > datetime.now(UTC) + timedelta(hours=1))
    r = world.op(ERIK_VC01, f"Slot/{booked['id']}/$book", encounter={"reference": f"Encounter/{encounter}"})
    assert r.status_code == 201, r.text

    restarted = create_app(hub_settings(database_url, access_control=True, demo_data=True))
    with TestClient(restarted, base_url="http://hub.test") as client:
        again = WorkflowHub(client)
        after = demo_slots(again)
        assert {k: sorted(s["id"] for s in v) for k, v in after.items()} == \
            {k: sorted(s["id"] for s in v) for k, v in before.items()}
        assert again.get(ERIK_VC01, f"Slot/{booked['id']}").json()["status"] == "busy"
        assert add_demo_times(again.hub.fhir) == 0


def test_a_later_start__adds_the_days_that_came_into_the_window(world: WorkflowHub) -> None:
    week_later = datetime.now(UTC) + timedelta(days=7)
    before = sum(len(v) for v in demo_slots(world).values())
    added = add_demo_times(world.hub.fhir, now=week_later)
    assert added > 0 and sum(len(v) for v in demo_slots(world).values()) == before + added
    first = week_later.astimezone(SWEDEN).date() + timedelta(days=1)
    assert_full_weekdays(world, first, first + timedelta(days=WINDOW_DAYS - 2))
    assert add_demo_times(world.hub.fhir, now=week_later) == 0


def test_access__times_are_directory_data_read_by_anyone_signed_in_and_written_by_no_clinician(
        world: WorkflowHub) -> None:
    [slot] = matches(world.get(TOLVAN, "Slot?status=free&_count=1"))[:1]
    assert world.get(TOLVAN, f"Slot/{slot['id']}").status_code == 200
    assert world.client.get(f"/fhir/Slot/{slot['id']}").status_code == 401
    r = world.client.put(f"/fhir/Slot/{slot['id']}", json={**slot, "status": "busy"},
                         headers=world.headers(ERIK_VC01))
    assert r.status_code == 403, r.text
    schedule = world.get(ANNA, slot["schedule"]["reference"]).json()
    schedule.pop("id")
    assert world.client.post("/fhir/Schedule", json=schedule, headers=world.headers(ANNA)).status_code == 403
    assert world.get(ANNA, f"Slot/{slot['id']}").json()["status"] == "free"
