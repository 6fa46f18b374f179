"""The port to a region's booking system: find free times, book, move, cancel and look up bookings.

Why a port: regions run different booking systems; the hub talks to all of them through
RIV-TA crm:scheduling 1.1 (riv_scheduling.py), and tests and the embedded default use the
in-memory fake (fake.py). A refusal the booking system states itself (resultCode ERROR) is
`BookingRejected` with its resultText, for the clinician to read; a system that does not
answer raises `adapters.riv.errors.RivError`.
https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from mappings.riv_scheduling import SubjectOfCareInfo, Timeslot


class BookingRejected(Exception):
    """The booking system refused the request; `result_text` is its own words."""

    def __init__(self, operation: str, result_text: str) -> None:
        self.operation, self.result_text = operation, result_text
        super().__init__(f"{operation} was refused: {result_text}")


class BookingSystem(Protocol):
    """One region's booking system, as the hub uses it."""

    def available_times(self, facility: str, first: date, last: date, subject: str,
                        performers: tuple[str, ...] = ()) -> list[Timeslot]:
        """Return the free times at a facility between two days (inclusive)."""
        ...

    def make_booking(self, wanted: Timeslot, person: SubjectOfCareInfo) -> str:
        """Book a free time for `wanted.subject` (named and reached as `person`); return the booking id."""
        ...

    def update_booking(self, booking_id: str, wanted: Timeslot) -> None:
        """Move a booking to another free time."""
        ...

    def cancel_booking(self, facility: str, booking_id: str, message: str = "") -> None:
        """Cancel a booking."""
        ...

    def booking_details(self, facility: str, booking_id: str) -> Timeslot:
        """Return one booking."""
        ...

    def subject_schedule(self, facility: str, subject: str) -> list[Timeslot]:
        """Return the subject of care's bookings at a facility."""
        ...
