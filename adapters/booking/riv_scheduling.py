"""Talk to a region's booking system over RIV-TA crm:scheduling 1.1 with zeep.

GetAvailableTimeslots, MakeBooking, UpdateBooking, CancelBooking, GetBookingDetails and
GetSubjectOfCareSchedule over the real WSDLs (adapters/riv_ta/wsdl), through the shared
caller (LogicalAddress header, timeout, the hub's errors). The optional `Actor` header is not
sent: its two actor types name the citizen or the citizen's agent, and here a clinician books.
http://rivta.se/domains/crm_scheduling.html
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.booking.port import BookingRejected
from adapters.riv.errors import RivBadAnswer
from adapters.riv.soap import RivCaller
from mappings.hsa import UnmappedIdentifier, riv_date
from mappings.riv_scheduling import SubjectOfCareInfo, Timeslot, timeslot_from_riv, timeslot_to_riv


class ZeepBookingSystem:
    """The booking port over one region's crm:scheduling endpoint."""

    def __init__(self, caller: RivCaller) -> None:
        self.caller = caller

    def _times(self, operation: str, items: Any) -> list[Timeslot]:
        if isinstance(items, dict):
            items = [items]
        try:
            return [timeslot_from_riv(item) for item in items or []]
        except (UnmappedIdentifier, TypeError, AttributeError) as exc:
            raise RivBadAnswer(self.caller.source(operation), f"a timeslot could not be read: {exc}") from None

    def _result(self, operation: str, answer: dict[str, Any]) -> None:
        if answer.get("resultCode") == "ERROR":
            raise BookingRejected(operation, str(answer.get("resultText") or "no reason given"))

    def available_times(self, facility: str, first: date, last: date, subject: str,
                        performers: tuple[str, ...] = ()) -> list[Timeslot]:
        """Call GetAvailableTimeslots."""
        answer = self.caller.call("GetAvailableTimeslots", healthcare_facility=facility,
                                  startDateInclusive=riv_date(first), endDateInclusive=riv_date(last),
                                  performer=list(performers) or None, subject_of_care=subject)
        return self._times("GetAvailableTimeslots", answer.get("timeslotDetail"))

    def make_booking(self, wanted: Timeslot, person: SubjectOfCareInfo) -> str:
        """Call MakeBooking; a refusal raises BookingRejected with the resultText."""
        answer = self.caller.call("MakeBooking", healthcare_facility_med=wanted.facility,
                                  requestedTimeslot=timeslot_to_riv(wanted), subject_of_care_info=person.to_riv())
        self._result("MakeBooking", answer)
        if not answer.get("bookingId"):
            raise RivBadAnswer(self.caller.source("MakeBooking"), "a booking without a bookingId")
        return str(answer["bookingId"])

    def update_booking(self, booking_id: str, wanted: Timeslot) -> None:
        """Call UpdateBooking with the booking id in the requested timeslot."""
        moved = timeslot_to_riv(wanted) | {"bookingId": booking_id}
        self._result("UpdateBooking", self.caller.call("UpdateBooking", requestedTimeslot=moved,
                                                       subject_of_care_info=None))

    def cancel_booking(self, facility: str, booking_id: str, message: str = "") -> None:
        """Call CancelBooking."""
        self._result("CancelBooking", self.caller.call("CancelBooking", healthcare_facility=facility,
                                                       bookingId=booking_id, message=message or None))

    def booking_details(self, facility: str, booking_id: str) -> Timeslot:
        """Call GetBookingDetails."""
        answer = self.caller.call("GetBookingDetails", healthcare_facility=facility, bookingId=booking_id)
        found = self._times("GetBookingDetails", answer.get("timeslotDetail"))
        if len(found) != 1:
            raise RivBadAnswer(self.caller.source("GetBookingDetails"), "expected exactly one timeslot")
        return found[0]

    def subject_schedule(self, facility: str, subject: str) -> list[Timeslot]:
        """Call GetSubjectOfCareSchedule."""
        answer = self.caller.call("GetSubjectOfCareSchedule", healthcare_facility=facility, subject_of_care=subject)
        return self._times("GetSubjectOfCareSchedule", answer.get("timeslotDetail"))
