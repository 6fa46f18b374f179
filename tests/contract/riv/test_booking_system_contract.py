"""Hold the in-memory booking system and the zeep crm:scheduling client to one contract.

Every test runs twice: against InMemoryBookingSystem, and against ZeepBookingSystem calling
tests/fixtures/soap_server in its own process (every request validated against the real
crm:scheduling 1.1 XSDs, LogicalAddress checked). Covered: GetAvailableTimeslots,
MakeBooking, UpdateBooking, CancelBooking, GetBookingDetails, GetSubjectOfCareSchedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Protocol

import pytest

from adapters.booking import fake
from adapters.booking.fake import InMemoryBookingSystem
from adapters.booking.port import BookingRejected, BookingSystem
from adapters.booking.riv_scheduling import ZeepBookingSystem
from adapters.riv.errors import RivFault, RivTimeout
from adapters.riv.soap import RivCaller, RivEndpoint
from mappings.hsa import SWEDEN
from mappings.riv_scheduling import SubjectOfCareInfo, Timeslot, timeslot_to_riv
from tests.fixtures.soap_server import behaviour
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.fixtures.soap_server.samples import FACILITY, PATIENT, PHYSIO

SHORT_TIMEOUT = 1.0
PERSON = SubjectOfCareInfo("Tolvan", "Tolvansson", phone="070-1234567")
NINE = Timeslot(FACILITY, datetime(2026, 12, 1, 9, 0, tzinfo=SWEDEN), datetime(2026, 12, 1, 9, 30, tzinfo=SWEDEN),
                performer=PHYSIO)
TEN = Timeslot(FACILITY, datetime(2026, 12, 1, 10, 0, tzinfo=SWEDEN), datetime(2026, 12, 1, 10, 30, tzinfo=SWEDEN),
               performer=PHYSIO)
NEXT_WEEK = Timeslot(FACILITY, datetime(2026, 12, 8, 9, 0, tzinfo=SWEDEN), datetime(2026, 12, 8, 9, 30, tzinfo=SWEDEN),
                     performer=PHYSIO)
DAY = date(2026, 12, 1)


class Side(Protocol):
    """The verbs a test scripts the booking system with, the same on both sides."""

    system: BookingSystem
    taken_text: str
    unknown_text: str

    def offers(self, times: list[Timeslot]) -> None: ...
    def slow_next(self, operation: str) -> None: ...


class FakeSide:
    taken_text, unknown_text = fake.TAKEN, fake.NO_SUCH_BOOKING

    def __init__(self) -> None:
        self.system = InMemoryBookingSystem()

    def offers(self, times: list[Timeslot]) -> None:
        self.system.times = list(times)

    def slow_next(self, operation: str) -> None:
        self.system.fail_next(operation, RivTimeout(f"{operation} at fake"))


class WireSide:
    taken_text, unknown_text = behaviour.TAKEN, behaviour.NO_SUCH_BOOKING

    def __init__(self, server: SoapServer) -> None:
        self.server = server
        self.system = ZeepBookingSystem(RivCaller(RivEndpoint(server.base_url, LOGICAL_ADDRESS, SHORT_TIMEOUT)))
        server.set_state({})

    def offers(self, times: list[Timeslot]) -> None:
        self.server.set_state({"timeslots": [timeslot_to_riv(t) for t in times]})

    def slow_next(self, operation: str) -> None:
        self.server.script(operation, delay=SHORT_TIMEOUT * 3)


@pytest.fixture(params=["fake", "zeep"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    """Give each contract test the fake, then the zeep client against the SOAP server."""
    if request.param == "fake":
        yield FakeSide()
        return
    server: SoapServer = request.getfixturevalue("soap_server")
    yield WireSide(server)
    assert server.rejected() == [], "the SOAP server rejected a request the client sent"


def test_available_times__free_times_of_the_days_asked_in_swedish_time(side: Side) -> None:
    side.offers([NINE, TEN, NEXT_WEEK])
    times = side.system.available_times(FACILITY, DAY, DAY, PATIENT)
    assert [(t.start, t.end, t.performer) for t in times] == [(NINE.start, NINE.end, PHYSIO), (TEN.start, TEN.end, PHYSIO)]
    assert times[0].start.astimezone(UTC) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_make_booking__the_time_is_booked_for_the_citizen_and_no_longer_offered(side: Side) -> None:
    side.offers([NINE, TEN])
    booking_id = side.system.make_booking(NINE.booked_for(PATIENT, "Knäsmärta"), PERSON)
    assert [t.start for t in side.system.available_times(FACILITY, DAY, DAY, PATIENT)] == [TEN.start]
    details = side.system.booking_details(FACILITY, booking_id)
    assert (details.booking_id, details.subject, details.start, details.reason) == (booking_id, PATIENT, NINE.start,
                                                                                    "Knäsmärta")
    assert [b.booking_id for b in side.system.subject_schedule(FACILITY, PATIENT)] == [booking_id]


def test_make_booking__a_taken_time_is_rejected_with_the_systems_result_text(side: Side) -> None:
    side.offers([NINE])
    side.system.make_booking(NINE.booked_for(PATIENT), PERSON)
    with pytest.raises(BookingRejected) as rejected:
        side.system.make_booking(NINE.booked_for("198112189876"), PERSON)
    assert rejected.value.result_text == side.taken_text


def test_update_booking__moves_the_booking_and_frees_the_old_time(side: Side) -> None:
    side.offers([NINE, TEN])
    booking_id = side.system.make_booking(NINE.booked_for(PATIENT), PERSON)
    side.system.update_booking(booking_id, TEN.booked_for(PATIENT))
    assert side.system.booking_details(FACILITY, booking_id).start == TEN.start
    assert [t.start for t in side.system.available_times(FACILITY, DAY, DAY, PATIENT)] == [NINE.start]


def test_update_booking__to_a_taken_time_is_rejected_and_keeps_the_booking(side: Side) -> None:
    side.offers([NINE, TEN])
    mine = side.system.make_booking(NINE.booked_for(PATIENT), PERSON)
    side.system.make_booking(TEN.booked_for("198112189876"), PERSON)
    with pytest.raises(BookingRejected) as rejected:
        side.system.update_booking(mine, TEN.booked_for(PATIENT))
    assert rejected.value.result_text == side.taken_text
    assert side.system.booking_details(FACILITY, mine).start == NINE.start


def test_cancel_booking__frees_the_time_and_a_second_cancel_is_rejected(side: Side) -> None:
    side.offers([NINE])
    booking_id = side.system.make_booking(NINE.booked_for(PATIENT), PERSON)
    side.system.cancel_booking(FACILITY, booking_id, "Patienten är frisk")
    assert side.system.subject_schedule(FACILITY, PATIENT) == []
    assert [t.start for t in side.system.available_times(FACILITY, DAY, DAY, PATIENT)] == [NINE.start]
    with pytest.raises(BookingRejected) as rejected:
        side.system.cancel_booking(FACILITY, booking_id)
    assert rejected.value.result_text == side.unknown_text


def test_booking_details__an_unknown_booking_is_a_fault(side: Side) -> None:
    with pytest.raises(RivFault):
        side.system.booking_details(FACILITY, "NO-SUCH")


def test_slow_booking_system__times_out_as_the_hubs_own_error(side: Side) -> None:
    side.offers([NINE])
    side.slow_next("MakeBooking")
    with pytest.raises(RivTimeout):
        side.system.make_booking(NINE.booked_for(PATIENT), PERSON)


def test_available_times__days_are_swedish_calendar_days(side: Side) -> None:
    after_midnight = Timeslot(FACILITY, datetime(2026, 12, 1, 23, 30, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
                              performer=PHYSIO)  # 00:30 on 2 December in Sweden
    side.offers([after_midnight])
    assert side.system.available_times(FACILITY, DAY, DAY, PATIENT) == []
    [found] = side.system.available_times(FACILITY, date(2026, 12, 2), date(2026, 12, 2), PATIENT)
    assert found.start == after_midnight.start


def test_wire__the_server_serves_the_real_wsdls_with_their_imports(soap_server: SoapServer) -> None:
    import zeep

    from adapters.riv.contracts import INTERACTIONS, WSDL_ROOT

    wsdl = INTERACTIONS["MakeBooking"].wsdl.relative_to(WSDL_ROOT).as_posix()
    client = zeep.Client(f"{soap_server.base_url}/wsdl/{wsdl}")  # the XSDs come over HTTP too
    [binding] = client.wsdl.bindings.values()
    assert "MakeBooking" in binding._operations
