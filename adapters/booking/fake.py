"""An in-memory region booking system: free times, bookings, refusals and scripted failures.

Why: the embedded default and most tests need a booking system that behaves like one — a
booked time is no longer offered, a second booking of it is refused with a reason, a
cancelled booking is gone — without a SOAP server. The contract suite holds it and the zeep
client to the same behaviour.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict, deque
from dataclasses import replace
from datetime import date

from adapters.booking.port import BookingRejected
from adapters.riv.errors import RivError, RivFault
from mappings.hsa import SWEDEN
from mappings.riv_scheduling import SubjectOfCareInfo, Timeslot

TAKEN = "The time is no longer free"
NO_SUCH_BOOKING = "No such booking"


class InMemoryBookingSystem:
    """A booking system in memory; thread-safe."""

    def __init__(self, name: str = "fake booking system", times: list[Timeslot] | None = None) -> None:
        self.name = name
        self.times: list[Timeslot] = list(times or [])
        self.bookings: dict[str, Timeslot] = {}
        self.people: dict[str, SubjectOfCareInfo] = {}
        self.failures: dict[str, deque[RivError]] = defaultdict(deque)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def fail_next(self, operation: str, error: RivError) -> None:
        """Make the next call of `operation` raise `error`."""
        with self._lock:
            self.failures[operation].append(error)

    def _check(self, operation: str) -> None:
        if self.failures[operation]:
            raise self.failures[operation].popleft()

    def _free(self, facility: str) -> list[Timeslot]:
        taken = {(b.facility, b.start, b.performer) for b in self.bookings.values()}
        return [t for t in self.times if t.facility == facility and (t.facility, t.start, t.performer) not in taken]

    def _match(self, wanted: Timeslot) -> Timeslot:
        for time in self._free(wanted.facility):
            if time.start == wanted.start and (not wanted.performer or wanted.performer == time.performer):
                return time
        raise BookingRejected("MakeBooking", TAKEN)

    def available_times(self, facility: str, first: date, last: date, subject: str,
                        performers: tuple[str, ...] = ()) -> list[Timeslot]:
        """Return the free times at the facility on those days."""
        with self._lock:
            self._check("GetAvailableTimeslots")
            return [t for t in self._free(facility) if first <= t.start.astimezone(SWEDEN).date() <= last
                    and (not performers or t.performer in performers)]

    def make_booking(self, wanted: Timeslot, person: SubjectOfCareInfo) -> str:
        """Book the matching free time, or refuse it."""
        with self._lock:
            self._check("MakeBooking")
            time = self._match(wanted)
            booking_id = f"F{next(self._ids)}"
            self.bookings[booking_id] = replace(time, booking_id=booking_id, subject=wanted.subject,
                                                reason=wanted.reason)
            self.people[booking_id] = person
            return booking_id

    def update_booking(self, booking_id: str, wanted: Timeslot) -> None:
        """Move the booking, or refuse (unknown booking, time not free)."""
        with self._lock:
            self._check("UpdateBooking")
            current = self.bookings.pop(booking_id, None)
            if current is None:
                raise BookingRejected("UpdateBooking", NO_SUCH_BOOKING)
            try:
                time = self._match(wanted)
            except BookingRejected:
                self.bookings[booking_id] = current
                raise BookingRejected("UpdateBooking", TAKEN) from None
            self.bookings[booking_id] = replace(time, booking_id=booking_id, subject=current.subject,
                                                reason=current.reason)

    def cancel_booking(self, facility: str, booking_id: str, message: str = "") -> None:
        """Cancel the booking, or refuse an unknown one."""
        with self._lock:
            self._check("CancelBooking")
            if booking_id not in self.bookings or self.bookings[booking_id].facility != facility:
                raise BookingRejected("CancelBooking", NO_SUCH_BOOKING)
            del self.bookings[booking_id]

    def booking_details(self, facility: str, booking_id: str) -> Timeslot:
        """Return the booking; an unknown one is a fault, as the SOAP service answers it."""
        with self._lock:
            self._check("GetBookingDetails")
            booking = self.bookings.get(booking_id)
            if booking is None or booking.facility != facility:
                raise RivFault(f"GetBookingDetails at {self.name}", NO_SUCH_BOOKING)
            return booking

    def subject_schedule(self, facility: str, subject: str) -> list[Timeslot]:
        """Return the subject's bookings at the facility."""
        with self._lock:
            self._check("GetSubjectOfCareSchedule")
            return [b for b in self.bookings.values() if b.facility == facility and b.subject == subject]
