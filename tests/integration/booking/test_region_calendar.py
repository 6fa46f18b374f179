"""Booking from the region's own calendar: `$region-times`, `$book-region-time`, `$region-bookings`.

Petra's calendar at VC01 lives only in the region's booking system (the in-memory fake, and in
the last test the zeep client against the local SOAP server). Anna books Anders from it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adapters.booking.fake import InMemoryBookingSystem
from adapters.booking.port import BookingSystem
from adapters.booking.riv_scheduling import ZeepBookingSystem
from adapters.riv.soap import RivCaller, RivEndpoint
from hub.booking_region_wiring import register_region_booking
from hub.booking_wiring import register_booking
from hub.journal_view_wiring import RIV_CASE_OPERATIONS
from mappings.riv_scheduling import BOOKING_ID_SYSTEM, Timeslot, timeslot_to_riv
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANDERS_PNR, ANNA, MARIA, VC01, ref
from tests.integration.booking.test_book_slot import PHYSIO_HSA, TOMORROW, add_physio_times

TIMES = "/fhir/Encounter/encounter-anders/$region-times?schedule=Schedule/petra-schedule"
BOOK = "/fhir/Encounter/encounter-anders/$book-region-time"
NINE, HALF_PAST = TOMORROW, TOMORROW + timedelta(minutes=30)


def region_times() -> list[Timeslot]:
    return [Timeslot(VC01, s, s + timedelta(minutes=30), performer=PHYSIO_HSA, performer_name="Petra Fors")
            for s in (NINE, HALF_PAST)]


def with_region(hub: GuardedHub, system: BookingSystem) -> None:
    booking = register_booking(hub.server, {VC01: system}.get)
    register_region_booking(hub.server, booking)
    hub.guard.case_operations = hub.guard.case_operations | RIV_CASE_OPERATIONS
    add_physio_times(hub, count=0)


def book_body(start: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "schedule", "valueReference": ref("Schedule", "petra-schedule")},
        {"name": "start", "valueDateTime": start}, {"name": "comment", "valueString": "Knäsmärta"}]}


def utc(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_region_times__the_regions_free_times_show_as_slots_of_the_hub_schedule(world_hub: GuardedHub) -> None:
    with_region(world_hub, InMemoryBookingSystem("Bokning Norr", region_times()))
    response = world_hub.client.get(TIMES + f"&start={NINE.date().isoformat()}", headers=world_hub.headers(ANNA))
    assert response.status_code == 200, response.text
    slots = [e["resource"] for e in response.json()["entry"]]
    assert [(s["start"], s["status"], s["schedule"]) for s in slots] == [
        (utc(NINE), "free", ref("Schedule", "petra-schedule")), (utc(HALF_PAST), "free", ref("Schedule", "petra-schedule"))]


def test_book_region_time__books_in_the_region_and_stores_the_appointment_with_its_id(world_hub: GuardedHub) -> None:
    system = InMemoryBookingSystem("Bokning Norr", region_times())
    with_region(world_hub, system)
    response = world_hub.client.post(BOOK, json=book_body(utc(HALF_PAST)), headers=world_hub.headers(ANNA))
    assert response.status_code == 201, response.text
    appointment = response.json()
    assert (appointment["start"], appointment["end"]) == (utc(HALF_PAST), utc(HALF_PAST + timedelta(minutes=30)))
    assert appointment["supportingInformation"] == [ref("Encounter", "encounter-anders")]
    assert "slot" not in appointment
    [identifier] = appointment["identifier"]
    assert identifier["system"] == BOOKING_ID_SYSTEM
    assert system.bookings[identifier["value"]].subject == ANDERS_PNR
    again = world_hub.client.post(BOOK, json=book_body(utc(HALF_PAST)), headers=world_hub.headers(ANNA))
    assert again.status_code == 409
    listed = world_hub.client.get(f"/fhir/Patient/anders/$region-bookings?unit={VC01}", headers=world_hub.headers(ANNA))
    assert [e["resource"]["identifier"][0]["value"] for e in listed.json()["entry"]] == [identifier["value"]]


def test_region_times__for_a_case_at_another_unit_is_404(world_hub: GuardedHub) -> None:
    with_region(world_hub, InMemoryBookingSystem("Bokning Norr", region_times()))
    assert world_hub.client.get(TIMES, headers=world_hub.headers(MARIA)).status_code == 404


def test_region_times__on_a_calendar_the_hub_keeps_itself_is_400(world_hub: GuardedHub) -> None:
    booking = register_booking(world_hub.server, {}.get)
    register_region_booking(world_hub.server, booking)
    world_hub.guard.case_operations = world_hub.guard.case_operations | RIV_CASE_OPERATIONS
    add_physio_times(world_hub, count=0)
    response = world_hub.client.get(TIMES, headers=world_hub.headers(ANNA))
    assert response.status_code == 400
    assert "Slot/<id>/$book" in response.json()["issue"][0]["diagnostics"]


def test_region_calendar__over_riv_ta_every_request_validates(world_hub: GuardedHub, soap_server: SoapServer) -> None:
    soap_server.set_state({"timeslots": [timeslot_to_riv(t) for t in region_times()]})
    with_region(world_hub, ZeepBookingSystem(RivCaller(RivEndpoint(soap_server.base_url, LOGICAL_ADDRESS, 2.0))))
    times = world_hub.client.get(TIMES + f"&start={NINE.date().isoformat()}", headers=world_hub.headers(ANNA))
    assert len(times.json()["entry"]) == 2
    booked = world_hub.client.post(BOOK, json=book_body(utc(NINE)), headers=world_hub.headers(ANNA))
    assert booked.status_code == 201, booked.text
    listed = world_hub.client.get(f"/fhir/Patient/anders/$region-bookings?unit={VC01}", headers=world_hub.headers(ANNA))
    assert len(listed.json()["entry"]) == 1
    assert [c["operation"] for c in soap_server.calls()] == [
        "GetAvailableTimeslots", "GetAvailableTimeslots", "MakeBooking", "GetBookingDetails",
        "GetSubjectOfCareSchedule"]
    assert soap_server.rejected() == []
