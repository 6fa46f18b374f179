"""Book straight from the region's own calendar: free times, booking one, and the citizen's bookings.

Some units keep their calendar only in the region's booking system, and crm:scheduling gives
free times per citizen (GetAvailableTimeslots needs the subject of care), so these are case
operations rather than shared Slots: `GET Encounter/{id}/$region-times` shows the region's
free times for the case's patient as Slots (not stored), `POST Encounter/{id}/$book-region-time`
books one (MakeBooking, then GetBookingDetails for the booked time) as an Appointment of the
case, and `GET Patient/{id}/$region-bookings` lists the patient's bookings at a unit
(GetSubjectOfCareSchedule), also not stored. The region's system is the one that refuses a
taken time, so two clinicians cannot book it twice; its refusal is a 409 with its resultText.
https://hl7.org/fhir/R4/appointment.html, http://rivta.se/domains/crm_scheduling.html
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from adapters.booking.port import BookingSystem
from adapters.riv.errors import RivError
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Conflict, NotFound
from fhir_api.server import FhirServer, Operation
from hub.booking_wiring import Booking, UpstreamFailed, _param, _ref_id
from hub.case_booking import wants_close
from mappings.hsa import SWEDEN, UnmappedIdentifier, parse_fhir_instant
from mappings.riv_scheduling import booking_identifier, region_appointment, region_slot

TIMES, BOOK_TIME, BOOKINGS = "region-times", "book-region-time", "region-bookings"
REGION_OPERATIONS = frozenset({TIMES, BOOK_TIME, BOOKINGS})
MAX_DAYS = 62


def _query(req: FhirRequest, name: str) -> str | None:
    values = [v for k, v in req.query if k == name]
    return values[-1] if values else None


def _day(req: FhirRequest, name: str, default: date) -> date:
    raw = _query(req, name)
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {raw!r}", (name,)) from None


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r, "search": {"mode": "match"}}
                      for r in resources]}


class RegionBooking(Booking):
    """The case operations over the region's booking systems."""

    def _system_for_schedule(self, conn: Connection, schedule_ref: Any,
                             where: str) -> tuple[str, dict[str, Any], str, str | None, BookingSystem]:
        schedule_id = _ref_id(schedule_ref if isinstance(schedule_ref, dict) else {"reference": schedule_ref},
                              "Schedule")
        if schedule_id is None:
            raise BadRequest("Name the calendar: parameter schedule = Schedule/<id>", (where,))
        schedule = self._read(conn, "Schedule", schedule_id, where).json()
        facility, performer = self._facility(conn, schedule)
        system = self.systems(facility) if facility else None
        if system is None or facility is None:
            raise BadRequest(f"Schedule/{schedule_id}'s unit keeps its times in the hub: book its Slots with "
                             "Slot/<id>/$book", (where,))
        return schedule_id, schedule, facility, performer, system

    def _patient_of_case(self, conn: Connection, encounter_id: str | None) -> tuple[str, dict[str, Any]]:
        encounter = self._read(conn, "Encounter", encounter_id, "Encounter").json()
        patient_id = _ref_id(encounter.get("subject"), "Patient")
        if patient_id is None:
            raise BadRequest(f"Encounter/{encounter_id} has no Patient subject", ("Encounter.subject",))
        return patient_id, self._read(conn, "Patient", patient_id, "Encounter.subject").json()

    def times(self, conn: Connection, req: FhirRequest, _t: str | None, encounter_id: str | None) -> FhirResponse:
        """List the region's free times for the case's patient as Slots of the hub Schedule."""
        self._check_clinician(req)
        schedule_id, _schedule, facility, performer, system = self._system_for_schedule(
            conn, _query(req, "schedule"), "schedule")
        _patient_id, patient = self._patient_of_case(conn, encounter_id)
        first = _day(req, "start", date.today())
        last = _day(req, "end", first + timedelta(days=14))
        if not first <= last <= first + timedelta(days=MAX_DAYS):
            raise BadRequest(f"end must be on or after start, within {MAX_DAYS} days", ("end",))
        try:
            found = system.available_times(facility, first, last, self._person_number(patient),
                                           (performer,) if performer else ())
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}", (f"${TIMES}",)) from None
        slots = [{**region_slot(t), "schedule": {"reference": f"Schedule/{schedule_id}"}} for t in found]
        return FhirResponse(200, _searchset(slots))

    def book_time(self, conn: Connection, req: FhirRequest, _t: str | None, encounter_id: str | None
                  ) -> FhirResponse:
        """Book the region's time that starts at `start` on `schedule` for the case's patient."""
        self._check_clinician(req)
        _schedule_id, schedule, facility, performer, system = self._system_for_schedule(
            conn, _param(req, "schedule"), "schedule")
        patient_id, patient = self._patient_of_case(conn, encounter_id)
        # Checked before the region is asked, so a case that may not be closed leaves no booking there.
        case = self.cases.prepare(conn, req, str(encounter_id)) if wants_close(req.body) else None
        try:
            start = parse_fhir_instant(str(_param(req, "start") or ""))
        except UnmappedIdentifier as exc:
            raise BadRequest(f"start must be a dateTime with a time zone: {exc}", ("start",)) from None
        comment = _param(req, "comment")
        subject = self._person_number(patient)
        try:
            day = start.astimezone(SWEDEN).date()  # RIV-TA dates are Swedish calendar days
            offered = system.available_times(facility, day, day, subject,
                                             (performer,) if performer else ())
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}", (f"${BOOK_TIME}",)) from None
        time = next((t for t in offered if t.start == start), None)
        if time is None:
            raise Conflict(f"The region offers no free time at {start.isoformat()} on this calendar; ask "
                           f"${TIMES} for the free ones", ("start",))
        wanted = time.booked_for(subject, comment.strip() if isinstance(comment, str) and comment.strip() else None)
        booking_id = self._mirror(system, wanted, patient)
        try:
            booked = system.booking_details(facility, booking_id)
            appointment = {**region_appointment(booked), "identifier": [booking_identifier(facility, booking_id)]}
            appointment.update(self._appointment({"start": appointment["start"], "end": appointment["end"]}, schedule,
                                                 None, patient_id, str(encounter_id), comment))
            del appointment["slot"]
            return self._create_for(conn, req, appointment, case)
        except (RivError, UnmappedIdentifier) as exc:
            self._cancel_remote_quietly(system, facility, booking_id)
            raise UpstreamFailed(f"The region's booking system did not confirm the booking ({exc}); it was "
                                 "cancelled", (f"${BOOK_TIME}",)) from None
        except Exception:
            self._cancel_remote_quietly(system, facility, booking_id)
            raise

    def bookings(self, conn: Connection, req: FhirRequest, _t: str | None, patient_id: str | None) -> FhirResponse:
        """List the patient's bookings in the region's system at the unit (`unit`: its HSA-id)."""
        self._check_clinician(req)
        facility = _query(req, "unit")
        system = self.systems(facility) if facility else None
        if system is None or facility is None:
            raise NotFound(f"No regional booking system is configured for unit {facility!r}", ("unit",))
        patient = self._read(conn, "Patient", patient_id, "Patient").json()
        try:
            found = system.subject_schedule(facility, self._person_number(patient))
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}", (f"${BOOKINGS}",)) from None
        return FhirResponse(200, _searchset([region_appointment(t) for t in found]))


def register_region_booking(server: FhirServer, booking: Booking) -> RegionBooking:
    """Register the region-calendar operations; the guard must list REGION_OPERATIONS."""
    region = RegionBooking(server, booking.systems)
    server.add_operation(Operation(
        name=TIMES, handler=region.times, types=frozenset({"Encounter"}), type_level=False, instance_level=True,
        idempotent=True, writes=False,
        documentation="The region's free times for this case's patient on a Schedule whose unit books in the "
                      "region's system (parameters schedule, start, end), as Slots that are not stored",
    ))
    server.add_operation(Operation(
        name=BOOK_TIME, handler=region.book_time, types=frozenset({"Encounter"}), type_level=False,
        instance_level=True, idempotent=False, writes=True,
        documentation="Book the region's time (parameters schedule, start, comment) for this case's patient; the "
                      "Appointment is stored with the region's booking id. A refusal is 409 with its resultText. "
                      "With close-case = true the case ends as booked in the same transaction",
    ))
    server.add_operation(Operation(
        name=BOOKINGS, handler=region.bookings, types=frozenset({"Patient"}), type_level=False,
        instance_level=True, idempotent=True, writes=False,
        documentation="The patient's bookings in the region's booking system at a unit (parameter unit: HSA-id), "
                      "as Appointments that are not stored",
    ))
    return region
