"""What the live sockets push about a case besides its chat: the complaint's name, and a new booking.

The world is the live tests' (conftest.py): Anna has claimed Anders' case (Encounter/enc) at
Digitala mottagningen Norr. Bookings are made as the workspace makes them, `Slot/{id}/$book`
over HTTP, in a Schedule of Anna's added here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection

from cases.intake import FINDING_SYSTEM
from fhir_api.changes import Change
from fhir_api.outcomes import Conflict
from tests.aio import run_in_own_loop
from tests.integration.communication.conftest import ANDERS, ANNA, LiveHub, opened, quiet, recv, recv_until

TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


def _fhir(hub: LiveHub, who: Any, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.request(method, f"{hub.base_url}/fhir/{path}", headers=hub.headers(who), json=body, timeout=30)


@pytest.fixture
def slots(live: LiveHub) -> Iterator[list[str]]:
    """Give Anna a Schedule with two free half hours tomorrow; yield the Slot ids."""
    assert live.put({"resourceType": "Schedule", "id": "anna-schedule", "active": True,
                     "actor": [{"reference": "PractitionerRole/anna-dig1"}]}).status_code in (200, 201)
    ids: list[str] = []
    for i in range(2):
        start = TOMORROW + timedelta(minutes=30 * i)
        ids.append(f"slot-{i}")
        slot = {"resourceType": "Slot", "id": ids[-1], "schedule": {"reference": "Schedule/anna-schedule"},
                "status": "free", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        assert live.put(slot).status_code in (200, 201)
    yield ids


def _book(hub: LiveHub, slot: str) -> httpx.Response:
    return _fhir(hub, ANNA, "POST", f"Slot/{slot}/$book", {"resourceType": "Parameters", "parameter": [
        {"name": "encounter", "valueReference": {"reference": "Encounter/enc"}}]})


def test_waiting_room__live_pushes_name_the_cases_complaint(live: LiveHub) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with live.connect(ANNA, path="/live/waiting-rooms/dig1") as room:
            assert (await recv(room))["type"] == "hello"
            encounter = _fhir(live, ANNA, "GET", "Encounter/enc").json()
            encounter["reasonCode"] = [{"coding": [{"system": FINDING_SYSTEM, "code": "complaint-rash-or-itching"}]}]
            assert live.put(encounter).status_code == 200
            changed = await recv_until(room, "encounter")
            task = _fhir(live, ANNA, "GET", "Task/task").json()
            task["status"], task["owner"] = "ready", {"reference": "Organization/dig1"}
            assert live.put(task).status_code == 200
            return changed, await recv_until(room, "task")
    encounter, task = run_in_own_loop(main())
    for event in (encounter, task):
        complaint = event["complaint"]
        assert (complaint["code"], complaint["display"]) == ("complaint-rash-or-itching", "Utslag eller klåda")
        assert complaint["_display"]["extension"][0]["extension"][1] == {"url": "content",
                                                                         "valueString": "Rash or itching"}
    assert "for" not in task and "subject" not in encounter  # still not who: that is read (and audited) over FHIR


def test_booking__the_citizens_open_case_hears_of_it_once_it_is_committed(live: LiveHub, slots: list[str]) -> None:
    async def main() -> tuple[dict[str, Any], int, str]:
        async with live.connect(ANDERS) as citizen:
            await opened(citizen)
            booked = _book(live, slots[0])
            assert booked.status_code == 201, booked.text
            event = await recv_until(citizen, "appointment")
            # Told only after the commit: what the event names can already be read.
            seen = _fhir(live, ANDERS, "GET", f"Appointment/{event['id']}")
            return event, seen.status_code, booked.json()["id"]
    event, status, appointment_id = run_in_own_loop(main())
    assert event == {"type": "appointment", "id": appointment_id, "version": 1, "method": "create",
                     "status": "booked", "encounter": "enc"}
    assert status == 200


def test_booking__that_fails_or_rolls_back_is_never_pushed(live: LiveHub, slots: list[str]) -> None:
    server = live.app.state.hub.fhir

    def refuse_bookings(conn: Connection, changes: list[Change]) -> None:
        # Runs after the live publisher's listener has worked out its events: only the commit may send them.
        if any(c.res_type == "Appointment" for c in changes):
            raise Conflict("the region's calendar is closed for maintenance")

    async def main() -> None:
        async with live.connect(ANDERS) as citizen:
            await opened(citizen)
            server.add_write_listener(refuse_bookings)
            try:
                refused = _book(live, slots[0])
            finally:
                server.write_listeners.remove(refuse_bookings)
            assert refused.status_code == 409, refused.text
            booked = _book(live, slots[1])
            assert booked.status_code == 201, booked.text
            assert _book(live, slots[1]).status_code == 409  # taken: nothing is written, nothing told
            # The first booking the citizen hears of is the one that was committed, and only it.
            first = await recv_until(citizen, "appointment")
            assert first["id"] == booked.json()["id"]
            await quiet(citizen, ignore=("ack", "task", "encounter"))
    run_in_own_loop(main())
    found = _fhir(live, ANNA, "GET", "Appointment?slot=Slot/slot-0").json()
    assert not found.get("entry")  # the refused booking rolled back
