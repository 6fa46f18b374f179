"""Booking with `close-case`: the case ends as booked through its state machine, in the booking's transaction.

The access tests' world, with Anders's Task made a case Task waiting at DIG1 and the case
steps wired in as create_app wires them; Anna books him a time with Petra at VC01, in the
hub's own calendar (`Slot/{id}/$book`) or the region's (`Encounter/{id}/$book-region-time`).
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.booking.fake import InMemoryBookingSystem
from cases.intake import CASE_STATE_SYSTEM
from cases.lifecycle import SHAPES, State
from hub.case_wiring import register_case_operations
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANNA, MARIA, VC01, ref
from tests.integration.booking.test_book_slot import (
    add_physio_times,
    book_body,
    region_system,
    slot_status,
    with_booking,
)
from tests.integration.booking.test_region_calendar import BOOK, HALF_PAST, region_times, utc, with_region
from tests.integration.booking.test_region_calendar import book_body as region_book_body


def make_case(hub: GuardedHub, state: State = State.WAITING) -> None:
    """Make task-anders a case Task in `state`, written straight into the store as the world is."""
    with hub.engine.begin() as conn:
        stored = hub.server.repo.read(conn, "Task", "task-anders")
        assert stored is not None
        task = {**stored.json(), "status": SHAPES[state].task_status,
                "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]},
                "businessStatus": {"coding": [{"system": CASE_STATE_SYSTEM, "code": str(state)}]}}
        hub.server.repo.update(conn, stored, task)
    register_case_operations(hub.server)


def closing(body: dict[str, Any], value: Any = True) -> dict[str, Any]:
    key = "valueBoolean" if isinstance(value, bool) else "valueString"
    return {**body, "parameter": [*body["parameter"], {"name": "close-case", key: value}]}


def read(hub: GuardedHub, res_type: str, res_id: str) -> dict[str, Any]:
    r = hub.client.get(f"/fhir/{res_type}/{res_id}", headers=hub.headers(ANNA))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def state(task: dict[str, Any]) -> str:
    return str(task["businessStatus"]["coding"][0]["code"])


def test_book__with_close_case_ends_the_case_as_booked_naming_the_appointment(world_hub: GuardedHub) -> None:
    make_case(world_hub)
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    r = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=closing(book_body()), headers=world_hub.headers(ANNA))
    assert r.status_code == 201, r.text
    task = read(world_hub, "Task", "task-anders")
    assert (task["status"], state(task)) == ("completed", "booked")
    outputs = [o for o in task["output"] if o["type"]["coding"][0]["code"] == "appointment"]
    assert outputs == [{"type": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "appointment"}]},
                        "valueReference": ref("Appointment", r.json()["id"])}]
    assert read(world_hub, "Encounter", "encounter-anders")["status"] == "finished"


def test_book__without_close_case_leaves_the_case_waiting(world_hub: GuardedHub) -> None:
    make_case(world_hub)
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    r = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=closing(book_body(), False),
                              headers=world_hub.headers(ANNA))
    assert r.status_code == 201, r.text
    assert state(read(world_hub, "Task", "task-anders")) == "waiting"
    assert read(world_hub, "Encounter", "encounter-anders")["status"] == "arrived"


def test_book__close_case_on_a_closed_case_is_409_and_books_nothing_here_or_in_the_region(
        world_hub: GuardedHub) -> None:
    make_case(world_hub, State.CLOSED)
    system = region_system()
    with_booking(world_hub, {VC01: system})
    [slot, _other] = add_physio_times(world_hub)
    r = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=closing(book_body()), headers=world_hub.headers(ANNA))
    assert r.status_code == 409, r.text
    issue = r.json()["issue"][0]
    assert issue["code"] == "business-rule" and issue["diagnostics"] == "cannot book: the case is closed"
    assert slot_status(world_hub, slot) == "free" and system.bookings == {}
    found = world_hub.client.get(f"/fhir/Appointment?slot=Slot/{slot}", headers=world_hub.headers(ANNA))
    assert found.status_code == 200 and found.json()["total"] == 0


def test_book__close_case_by_a_clinician_of_another_unit_is_refused(world_hub: GuardedHub) -> None:
    make_case(world_hub)
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    r = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=closing(book_body()), headers=world_hub.headers(MARIA))
    assert r.status_code in (403, 404), r.text
    assert slot_status(world_hub, slot) == "free"
    assert state(read(world_hub, "Task", "task-anders")) == "waiting"


@pytest.mark.parametrize("value", ["yes", "1"])
def test_book__close_case_that_is_not_a_boolean_is_400_naming_it(world_hub: GuardedHub, value: str) -> None:
    make_case(world_hub)
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    r = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=closing(book_body(), value),
                              headers=world_hub.headers(ANNA))
    assert r.status_code == 400, r.text
    assert "close-case" in r.json()["issue"][0]["diagnostics"]
    assert slot_status(world_hub, slot) == "free"


def test_book_region_time__with_close_case_books_in_the_region_and_ends_the_case(world_hub: GuardedHub) -> None:
    make_case(world_hub)
    system = InMemoryBookingSystem("Bokning Norr", region_times())
    with_region(world_hub, system)
    r = world_hub.client.post(BOOK, json=closing(region_book_body(utc(HALF_PAST))), headers=world_hub.headers(ANNA))
    assert r.status_code == 201, r.text
    assert len(system.bookings) == 1
    task = read(world_hub, "Task", "task-anders")
    assert state(task) == "booked"
    assert ref("Appointment", r.json()["id"]) in [o.get("valueReference") for o in task["output"]]


def test_book_region_time__close_case_on_a_closed_case_leaves_no_booking_in_the_region(
        world_hub: GuardedHub) -> None:
    make_case(world_hub, State.WITHDRAWN)
    system = InMemoryBookingSystem("Bokning Norr", region_times())
    with_region(world_hub, system)
    r = world_hub.client.post(BOOK, json=closing(region_book_body(utc(HALF_PAST))), headers=world_hub.headers(ANNA))
    assert r.status_code == 409, r.text
    assert r.json()["issue"][0]["diagnostics"] == "cannot book: the case is withdrawn"
    assert system.bookings == {}
