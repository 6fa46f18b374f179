"""`Slot/{id}/$book` and `Appointment/{id}/$cancel-booking`: the clinician books a time for the citizen.

The hub is the access tests' world: Anna (nurse at DIG1) has a case for Anders and books him a
time with Petra, a physiotherapist at VC01, whose Schedule and Slots are added here. A Slot is
booked once, whoever races for it; a booking system that refuses is heard with its own words.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.booking import fake
from adapters.booking.fake import InMemoryBookingSystem
from adapters.booking.port import BookingSystem
from adapters.booking.riv_scheduling import ZeepBookingSystem
from adapters.riv.soap import RivCaller, RivEndpoint
from hub.booking_wiring import register_booking
from hub.journal_view_wiring import RIV_CASE_OPERATIONS
from mappings.hsa import HSA_FHIR_SYSTEM
from mappings.riv_scheduling import BOOKING_ID_SYSTEM, Timeslot, timeslot_to_riv
from tests.fixtures.soap_server import behaviour
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANDERS, ANNA, MARIA, VC01, ref

PHYSIO_HSA = "SE2321000000-P009"
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)


def book_body(encounter: str = "encounter-anders", comment: str | None = None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "encounter", "valueReference": ref("Encounter", encounter)}]
    if comment:
        params.append({"name": "comment", "valueString": comment})
    return {"resourceType": "Parameters", "parameter": params}


def add_physio_times(hub: GuardedHub, count: int = 2) -> list[str]:
    """Give Petra (physiotherapist at VC01) a Schedule with free half hours tomorrow; return the Slot ids."""
    with hub.engine.begin() as conn:
        repo = hub.server.repo
        repo.create(conn, {"resourceType": "Practitioner", "name": [{"family": "Fors", "given": ["Petra"]}],
                           "identifier": [{"system": HSA_FHIR_SYSTEM, "value": PHYSIO_HSA}]}, "petra")
        repo.create(conn, {"resourceType": "PractitionerRole", "practitioner": ref("Practitioner", "petra"),
                           "organization": ref("Organization", "vc01"),
                           "code": [{"text": "Fysioterapeut"}]}, "petra-vc01")
        repo.create(conn, {"resourceType": "Schedule", "active": True, "actor": [ref("PractitionerRole", "petra-vc01")],
                           "serviceType": [{"text": "Fysioterapi"}]}, "petra-schedule")
        ids = []
        for i in range(count):
            start = TOMORROW + timedelta(minutes=30 * i)
            slot = repo.create(conn, {"resourceType": "Slot", "schedule": ref("Schedule", "petra-schedule"),
                                      "status": "free", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "end": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")})
            ids.append(slot.res_id)
    return ids


def with_booking(hub: GuardedHub, systems: dict[str, BookingSystem] | None = None) -> None:
    """Register the booking operations as create_app does, with these regional booking systems."""
    register_booking(hub.server, (systems or {}).get)
    hub.guard.case_operations = hub.guard.case_operations | RIV_CASE_OPERATIONS


def slot_status(hub: GuardedHub, slot_id: str) -> str:
    with hub.engine.connect() as conn:
        stored = hub.server.repo.read(conn, "Slot", slot_id)
        assert stored is not None
        return str(stored.json()["status"])


def test_book__clinician_books_a_free_slot_for_the_patient_of_the_case(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(comment="Knäsmärta"),
                                     headers=world_hub.headers(ANNA))
    assert response.status_code == 201, response.text
    appointment = response.json()
    assert appointment["status"] == "booked"
    assert appointment["slot"] == [ref("Slot", slot)]
    assert appointment["supportingInformation"] == [ref("Encounter", "encounter-anders")]
    assert [p["actor"] for p in appointment["participant"]] == [ref("Patient", "anders"),
                                                                 ref("PractitionerRole", "petra-vc01")]
    assert appointment["serviceType"] == [{"text": "Fysioterapi"}]
    assert slot_status(world_hub, slot) == "busy"
    logged = {e["what"]["reference"] for event in world_hub.audit_events() for e in event.get("entity") or []
              if "reference" in e.get("what", {})}
    assert {"Encounter/encounter-anders", f"Appointment/{appointment['id']}"} <= logged  # PDL: the access is logged
    seen = world_hub.client.get(f"/fhir/Appointment/{appointment['id']}", headers=world_hub.headers(ANNA))
    assert seen.status_code == 200  # the unit sees the booking as part of its case


def test_book__a_busy_slot_is_409_and_books_nothing(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    assert world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(),
                                 headers=world_hub.headers(ANNA)).status_code == 201
    before = world_hub.count("Appointment")
    again = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(encounter="encounter-lilly"),
                                  headers=world_hub.headers(ANNA))
    assert again.status_code == 409
    assert "busy" in again.json()["issue"][0]["diagnostics"]
    assert world_hub.count("Appointment") == before


def test_book__for_a_case_the_clinician_cannot_see_is_404(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(MARIA))
    assert response.status_code == 404
    assert slot_status(world_hub, slot) == "free"


def test_book__citizens_are_refused(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANDERS))
    assert response.status_code == 403
    assert slot_status(world_hub, slot) == "free"


def test_book__without_a_case_is_400_naming_the_parameter(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json={"resourceType": "Parameters"},
                                     headers=world_hub.headers(ANNA))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["encounter"]


def test_appointment_create__taking_a_slot_without_booking_it_is_409(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    body = {"resourceType": "Appointment", "status": "booked", "slot": [ref("Slot", slot)],
            "supportingInformation": [ref("Encounter", "encounter-anders")],
            "participant": [{"actor": ref("Patient", "anders"), "status": "accepted"}]}
    response = world_hub.client.post("/fhir/Appointment", json=body, headers=world_hub.headers(ANNA))
    assert response.status_code == 409
    assert response.json()["issue"][0]["expression"] == ["Appointment.slot"]


def test_cancel_booking__frees_the_slot_for_the_next_booking(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    booked = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    cancel = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "Frisk igen"}]}
    response = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$cancel-booking", json=cancel,
                                      headers=world_hub.headers(ANNA))
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["cancelationReason"]) == ("cancelled", {"text": "Frisk igen"})
    assert slot_status(world_hub, slot) == "free"
    assert world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(encounter="encounter-lilly"),
                                 headers=world_hub.headers(ANNA)).status_code == 201


def test_book__many_clinicians_racing_for_one_slot_make_exactly_one_booking(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    before = world_hub.count("Appointment")
    racers = 6
    barrier = threading.Barrier(racers)
    statuses: list[int] = []
    headers = world_hub.headers(ANNA)
    cases = ["encounter-anders", "encounter-lilly", "encounter-teo"]

    def race(i: int) -> None:
        barrier.wait()
        response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(cases[i % 3]), headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (racers - 1)
    assert world_hub.count("Appointment") == before + 1
    assert slot_status(world_hub, slot) == "busy"


def region_system(*starts: datetime) -> InMemoryBookingSystem:
    return InMemoryBookingSystem("Bokning Norr", [Timeslot(VC01, s, s + timedelta(minutes=30), performer=PHYSIO_HSA)
                                                  for s in starts])


def test_book__at_a_unit_with_a_regional_booking_system_the_booking_is_mirrored(world_hub: GuardedHub) -> None:
    system = region_system(TOMORROW)
    with_booking(world_hub, {VC01: system})
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    assert response.status_code == 201, response.text
    [identifier] = response.json()["identifier"]
    assert identifier["system"] == BOOKING_ID_SYSTEM
    booked = system.bookings[identifier["value"]]
    assert (booked.subject, booked.start, booked.performer) == ("198112189876", TOMORROW, PHYSIO_HSA)
    assert system.people[identifier["value"]].last_name == "Testsson"
    cancelled = world_hub.client.post(f"/fhir/Appointment/{response.json()['id']}/$cancel-booking",
                                      json={"resourceType": "Parameters"}, headers=world_hub.headers(ANNA))
    assert cancelled.status_code == 200
    assert system.bookings == {}


def test_book__a_refusal_by_the_regional_system_is_409_with_its_text_and_books_nothing(
        world_hub: GuardedHub) -> None:
    system = region_system()  # the region no longer has the time
    with_booking(world_hub, {VC01: system})
    [slot, _other] = add_physio_times(world_hub)
    before = world_hub.count("Appointment")
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    assert response.status_code == 409
    assert fake.TAKEN in response.json()["issue"][0]["diagnostics"]
    assert slot_status(world_hub, slot) == "free"
    assert world_hub.count("Appointment") == before


@pytest.mark.parametrize("failure", ["timeout", "unavailable"])
def test_book__a_regional_system_that_fails_is_502_and_books_nothing(world_hub: GuardedHub, failure: str) -> None:
    from adapters.riv.errors import RivTimeout, RivUnavailable

    system = region_system(TOMORROW)
    error = {"timeout": RivTimeout, "unavailable": RivUnavailable}[failure]
    system.fail_next("MakeBooking", error("MakeBooking at https://norr.example/vp"))
    with_booking(world_hub, {VC01: system})
    [slot, _other] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    assert response.status_code == 502
    assert "nothing was booked" in response.json()["issue"][0]["diagnostics"]
    assert slot_status(world_hub, slot) == "free"
    assert system.bookings == {}


def test_book__two_clinicians_who_both_saw_the_slot_free_cannot_both_book_it(world_hub: GuardedHub) -> None:
    if world_hub.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes its write lock before reading, so bookers queue instead of racing")
    booking = register_booking(world_hub.server, {}.get)
    world_hub.guard.case_operations = world_hub.guard.case_operations | RIV_CASE_OPERATIONS
    [slot, _other] = add_physio_times(world_hub)
    both_read = threading.Barrier(2)
    read = booking._read

    def read_then_wait(conn: Any, res_type: str, res_id: str | None, where: str) -> Any:
        stored = read(conn, res_type, res_id, where)
        if res_type == "Slot":
            both_read.wait(timeout=30)  # both transactions have seen the Slot free before either writes
        return stored

    booking._read = read_then_wait  # type: ignore[method-assign]
    headers = world_hub.headers(ANNA)
    answers: list[dict[str, Any]] = []

    def book(encounter: str) -> None:
        response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(encounter), headers=headers)
        answers.append({"status": response.status_code, "body": response.json()})

    threads = [threading.Thread(target=book, args=(e,)) for e in ("encounter-anders", "encounter-lilly")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["status"] for a in answers) == [201, 409]
    loser = next(a for a in answers if a["status"] == 409)
    assert "not free" not in loser["body"]["issue"][0]["diagnostics"]  # refused by the version check itself
    assert slot_status(world_hub, slot) == "busy"


def test_book__over_riv_ta_the_region_gets_a_valid_make_booking_and_cancel_booking(
        world_hub: GuardedHub, soap_server: SoapServer) -> None:
    soap_server.set_state({"timeslots": [timeslot_to_riv(Timeslot(VC01, TOMORROW, TOMORROW + timedelta(minutes=30),
                                                                  performer=PHYSIO_HSA))]})
    region = ZeepBookingSystem(RivCaller(RivEndpoint(soap_server.base_url, LOGICAL_ADDRESS, 2.0)))
    with_booking(world_hub, {VC01: region})
    [slot, second] = add_physio_times(world_hub)
    response = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(comment="Knäsmärta"),
                                     headers=world_hub.headers(ANNA))
    assert response.status_code == 201, response.text
    refused = world_hub.client.post(f"/fhir/Slot/{second}/$book", json=book_body(encounter="encounter-lilly"),
                                    headers=world_hub.headers(ANNA))
    assert refused.status_code == 409  # the region has no such time free
    assert behaviour.TAKEN in refused.json()["issue"][0]["diagnostics"]
    cancelled = world_hub.client.post(f"/fhir/Appointment/{response.json()['id']}/$cancel-booking",
                                      json={"resourceType": "Parameters"}, headers=world_hub.headers(ANNA))
    assert cancelled.status_code == 200
    calls = soap_server.calls()
    assert [c["operation"] for c in calls] == ["MakeBooking", "MakeBooking", "CancelBooking"]
    made = calls[0]["request"]
    assert (made["requestedTimeslot"]["subject_of_care"], made["requestedTimeslot"]["performer"],
            made["subject_of_care_info"]["lastName"]) == ("198112189876", PHYSIO_HSA, "Testsson")
    assert calls[2]["request"]["bookingId"] == response.json()["identifier"][0]["value"]
    assert soap_server.rejected() == []


def move_body(slot: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "slot", "valueReference": ref("Slot", slot)}]}


def test_move_booking__takes_the_new_slot_and_frees_the_old(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [first, second] = add_physio_times(world_hub)
    booked = world_hub.client.post(f"/fhir/Slot/{first}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    moved = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$move-booking", json=move_body(second),
                                  headers=world_hub.headers(ANNA))
    assert moved.status_code == 200, moved.text
    assert moved.json()["slot"] == [ref("Slot", second)]
    assert moved.json()["start"] == (TOMORROW + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (slot_status(world_hub, first), slot_status(world_hub, second)) == ("free", "busy")


def test_move_booking__to_a_busy_slot_is_409_and_changes_nothing(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [first, second] = add_physio_times(world_hub)
    mine = world_hub.client.post(f"/fhir/Slot/{first}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    world_hub.client.post(f"/fhir/Slot/{second}/$book", json=book_body("encounter-lilly"),
                          headers=world_hub.headers(ANNA))
    moved = world_hub.client.post(f"/fhir/Appointment/{mine.json()['id']}/$move-booking", json=move_body(second),
                                  headers=world_hub.headers(ANNA))
    assert moved.status_code == 409
    assert (slot_status(world_hub, first), slot_status(world_hub, second)) == ("busy", "busy")


def test_move_booking__moves_the_regions_booking_or_reports_its_refusal(world_hub: GuardedHub) -> None:
    system = region_system(TOMORROW, TOMORROW + timedelta(minutes=30))
    with_booking(world_hub, {VC01: system})
    [first, second] = add_physio_times(world_hub)
    booked = world_hub.client.post(f"/fhir/Slot/{first}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    booking_id = booked.json()["identifier"][0]["value"]
    moved = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$move-booking", json=move_body(second),
                                  headers=world_hub.headers(ANNA))
    assert moved.status_code == 200, moved.text
    assert system.bookings[booking_id].start == TOMORROW + timedelta(minutes=30)
    system.times = system.times[1:]  # the region's earlier time is gone: moving back is refused
    back = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$move-booking", json=move_body(first),
                                 headers=world_hub.headers(ANNA))
    assert back.status_code == 409
    assert fake.TAKEN in back.json()["issue"][0]["diagnostics"]
    assert (slot_status(world_hub, first), slot_status(world_hub, second)) == ("free", "busy")
    assert system.bookings[booking_id].start == TOMORROW + timedelta(minutes=30)


def test_cancel_booking__a_refusal_by_the_region_keeps_the_booking_in_the_hub(world_hub: GuardedHub) -> None:
    system = region_system(TOMORROW)
    with_booking(world_hub, {VC01: system})
    [slot, _other] = add_physio_times(world_hub)
    booked = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    system.bookings.clear()  # the region has lost the booking: it refuses to cancel it
    response = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$cancel-booking",
                                     json={"resourceType": "Parameters"}, headers=world_hub.headers(ANNA))
    assert response.status_code == 409
    assert fake.NO_SUCH_BOOKING in response.json()["issue"][0]["diagnostics"]
    assert slot_status(world_hub, slot) == "busy"
    still = world_hub.client.get(f"/fhir/Appointment/{booked.json()['id']}", headers=world_hub.headers(ANNA))
    assert still.json()["status"] == "booked"


def test_cancel_booking__a_citizen_is_refused(world_hub: GuardedHub) -> None:
    with_booking(world_hub)
    [slot, _other] = add_physio_times(world_hub)
    booked = world_hub.client.post(f"/fhir/Slot/{slot}/$book", json=book_body(), headers=world_hub.headers(ANNA))
    response = world_hub.client.post(f"/fhir/Appointment/{booked.json()['id']}/$cancel-booking",
                                     json={"resourceType": "Parameters"}, headers=world_hub.headers(ANDERS))
    assert response.status_code == 403
