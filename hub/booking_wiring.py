"""Let a clinician book a time for the citizen: `Slot/{id}/$book`, and cancel or move it.

The hub's own Schedules and Slots are the times; `$book` claims a free Slot by writing it
`busy` with the version check (`UPDATE … WHERE version_id = seen`), so of two clinicians who
book the same Slot at once exactly one wins and the other gets 409. A write listener refuses
any active Appointment that takes a Slot without claiming it in the same unit of work, so no
plain create or transaction can book around the check.

When the Slot's unit uses the region's booking system (the RIV-TA services file), the time is
mirrored there synchronously, inside the same unit of work and after the Slot is claimed:
the region's system is the master of that unit's calendar (its own staff book into it too),
so only it can say whether the time is still free, and the clinician, who is with the citizen,
must hear a refusal — with the booking system's own resultText — now, not as a dead letter
later. A refusal or a failed call rolls the whole booking back; a MakeBooking that timed out
is looked up and cancelled, so the region never keeps a booking the hub does not have.
https://hl7.org/fhir/R4/appointment.html, https://hl7.org/fhir/R4/slot.html
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from adapters.booking.port import BookingRejected, BookingSystem
from adapters.riv.errors import RivError, RivTimeout
from cases.principals import HSA_SYSTEM, Clinician
from fhir_api.changes import Change, recorded
from fhir_api.interactions import version_headers
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Conflict, FhirError, Forbidden, NotFound
from fhir_api.server import FhirServer, Operation
from fhir_api.store.repository import ResourceRepository, Stored
from hub.case_booking import CaseBooking, wants_close
from hub.case_steps import Case
from mappings.hsa import PERSON_SYSTEMS, UnmappedIdentifier, parse_fhir_instant
from mappings.riv_scheduling import BOOKING_ID_SYSTEM, Timeslot, booking_identifier, subject_info

log = logging.getLogger("ingang.booking")
BOOK, CANCEL, MOVE = "book", "cancel-booking", "move-booking"
BOOKING_OPERATIONS = frozenset({CANCEL, MOVE})  # instance operations on patient data the guard must open
ACTIVE = frozenset({"proposed", "pending", "booked", "arrived", "fulfilled", "checked-in", "waitlist"})
BookingSystems = Callable[[str], BookingSystem | None]


class UpstreamFailed(FhirError):
    """The region's booking system did not answer usably (502); nothing was booked in the hub."""

    status = 502
    code = "transient"


def _param(req: FhirRequest, name: str) -> Any:
    body = req.body if isinstance(req.body, dict) else {}
    for p in body.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            return next((v for k, v in p.items() if k.startswith("value")), None)
    return None


def _ref_id(ref: Any, res_type: str) -> str | None:
    text = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(text, str) and text.startswith(f"{res_type}/") and text.count("/") == 1:
        return text.split("/")[1]
    return None


def _hsa(resource: dict[str, Any]) -> str | None:
    return next((i.get("value") for i in resource.get("identifier") or []
                 if isinstance(i, dict) and i.get("system") == HSA_SYSTEM), None)


@dataclass(frozen=True)
class Claimed:
    """A Slot this unit of work has written busy, with its Schedule and the HSA-ids it is for."""

    slot_id: str
    slot: dict[str, Any]
    schedule: dict[str, Any]
    start: datetime
    end: datetime
    facility: str | None
    performer: str | None


class Booking:
    """The booking operations over one hub's store and its regions' booking systems."""

    def __init__(self, server: FhirServer, systems: BookingSystems) -> None:
        self.server, self.systems = server, systems
        self.cases = CaseBooking(server)  # `close-case`: the booking ends the case (hub/case_booking.py)

    def _read(self, conn: Connection, res_type: str, res_id: str | None, where: str) -> Stored:
        stored = self.server.repo.read(conn, res_type, res_id) if res_id else None
        if stored is None or stored.deleted:
            raise NotFound(f"{res_type}/{res_id} is not known", (where,))
        return stored

    def _check_clinician(self, req: FhirRequest) -> None:
        principal = getattr(req.caller, "principal", req.caller)
        if req.caller is not None and not (isinstance(principal, Clinician) and principal.commission.for_care):
            op = next((seg for seg in req.segments if seg.startswith("$")), f"${BOOK}")
            raise Forbidden(f"{op} is for clinicians acting under a commission for care", (op,))

    def _case(self, conn: Connection, req: FhirRequest, encounter_id: str) -> dict[str, Any]:
        """Read the case's Encounter as the caller would: hidden is 404, and the access is logged."""
        if self.server.guard is None:
            return self._read(conn, "Encounter", encounter_id, "encounter").json()
        probe = FhirRequest(method="GET", path=f"Encounter/{encounter_id}", caller=req.caller, base_url=req.base_url)
        found = self.server.dispatch(conn, probe).json()
        return found or {}

    def _facility(self, conn: Connection, schedule: dict[str, Any]) -> tuple[str | None, str | None]:
        """Return the HSA-ids of the unit and the performer the Schedule is for."""
        facility = performer = None
        for actor in schedule.get("actor") or []:
            org, role, person = (_ref_id(actor, t) for t in ("Organization", "PractitionerRole", "Practitioner"))
            if org:
                facility = facility or _hsa(self._read(conn, "Organization", org, "Schedule.actor").json())
            if role:
                found = self._read(conn, "PractitionerRole", role, "Schedule.actor").json()
                performer = performer or _hsa(found)
                org = _ref_id(found.get("organization"), "Organization")
                if org:
                    facility = facility or _hsa(self._read(conn, "Organization", org, "Schedule.actor").json())
                person = person or _ref_id(found.get("practitioner"), "Practitioner")
            if person:
                performer = performer or _hsa(self._read(conn, "Practitioner", person, "Schedule.actor").json())
        return facility, performer

    def _claim(self, conn: Connection, slot_id: str | None, where: str) -> Claimed:
        """Write a free, future Slot busy with the version check; return what the booking needs of it."""
        slot = self._read(conn, "Slot", slot_id, where)
        content = slot.json()
        if content.get("status") != "free":
            raise Conflict(f"Slot/{slot_id} is {content.get('status')}, not free; choose another time", (where,))
        try:
            start, end = parse_fhir_instant(content["start"]), parse_fhir_instant(content["end"])
        except (KeyError, UnmappedIdentifier) as exc:
            raise BadRequest(f"Slot/{slot_id} has no usable start and end: {exc}", (where,)) from None
        if end <= datetime.now(UTC):
            raise Conflict(f"Slot/{slot_id} has already ended", (where,))
        schedule_id = _ref_id(content.get("schedule"), "Schedule")
        schedule = self._read(conn, "Schedule", schedule_id, "Slot.schedule").json()
        if schedule.get("active") is False:
            raise Conflict(f"Schedule/{schedule_id} is not active", ("Schedule.active",))
        # Claim first: the version check decides between clinicians before anyone calls the region.
        self.server.repo.update(conn, slot, {**content, "status": "busy"})
        facility, performer = self._facility(conn, schedule)
        return Claimed(str(slot_id), content, schedule, start, end, facility, performer)

    # --- $book -----------------------------------------------------------------------------

    def book(self, conn: Connection, req: FhirRequest, _t: str | None, slot_id: str | None) -> FhirResponse:
        """Book the Slot for the patient of the case named by the `encounter` parameter."""
        self._check_clinician(req)
        encounter_id = _ref_id(_param(req, "encounter"), "Encounter")
        if encounter_id is None:
            raise BadRequest("Name the case: parameter encounter = Reference(Encounter/<id>)", ("encounter",))
        encounter = self._case(conn, req, encounter_id)
        patient_id = _ref_id(encounter.get("subject"), "Patient")
        if patient_id is None:
            raise BadRequest(f"Encounter/{encounter_id} has no Patient subject to book for", ("encounter",))
        # Checked before the Slot is claimed or the region asked, so a refusal leaves nothing to undo.
        case = self.cases.prepare(conn, req, encounter_id) if wants_close(req.body) else None
        claimed, comment = self._claim(conn, slot_id, "Slot"), _param(req, "comment")
        facility = claimed.facility
        system = self.systems(facility) if facility else None
        patient = self._read(conn, "Patient", patient_id, "Encounter.subject").json()
        appointment = self._appointment(claimed.slot, claimed.schedule, slot_id, patient_id, encounter_id, comment)
        if system is None or facility is None:
            return self._create_for(conn, req, appointment, case)
        wanted = Timeslot(facility, claimed.start, claimed.end, performer=claimed.performer,
                          subject=self._person_number(patient),
                          reason=comment.strip() if isinstance(comment, str) and comment.strip() else None)
        booking_id = self._mirror(system, wanted, patient)
        appointment["identifier"] = [booking_identifier(facility, booking_id)]
        try:
            return self._create_for(conn, req, appointment, case)
        except Exception:
            self._cancel_remote_quietly(system, facility, booking_id)
            raise

    def _create_for(self, conn: Connection, req: FhirRequest, appointment: dict[str, Any],
                    case: Case | None) -> FhirResponse:
        """Create the Appointment and, when the booking closes the case, take its `book` step."""
        created = self._create(conn, req, appointment)
        if case is not None:
            self.cases.close(conn, req, case, created)
        return created

    def _create(self, conn: Connection, req: FhirRequest, appointment: dict[str, Any]) -> FhirResponse:
        """Create the Appointment as the clinician would: validated, checked by the guard, and logged."""
        if self.server.guard is None:
            stored = self.server.repo.create(conn, appointment)
            return FhirResponse(201, stored.content, version_headers(stored, req.base_url, location=True))
        create = FhirRequest(method="POST", path="Appointment", body=appointment, caller=req.caller,
                             base_url=req.base_url, headers={"prefer": "return=representation"})
        return self.server.dispatch(conn, create)

    @staticmethod
    def _person_number(patient: dict[str, Any]) -> str:
        for i in patient.get("identifier") or []:
            if isinstance(i, dict) and i.get("system") in PERSON_SYSTEMS:
                return str(i.get("value"))
        raise BadRequest("The region's booking system books by personnummer; the patient has none",
                         ("Patient.identifier",))

    def _mirror(self, system: BookingSystem, wanted: Timeslot, patient: dict[str, Any]) -> str:
        """Book the time in the region's system; on any failure raise, leaving nothing booked there."""
        try:
            person = subject_info(patient)
        except UnmappedIdentifier as exc:
            raise BadRequest(str(exc), ("Patient.name",)) from None
        try:
            return system.make_booking(wanted, person)
        except BookingRejected as exc:
            raise Conflict(f"The region's booking system refused the booking: {exc.result_text}",
                           ("$book",)) from None
        except RivTimeout as exc:
            self._undo_unknown_booking(system, wanted)
            raise UpstreamFailed(f"The region's booking system did not answer in time ({exc}); nothing was booked",
                                 ("$book",), issue_code="timeout") from None
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}; nothing was booked", ("$book",)) from None

    def _undo_unknown_booking(self, system: BookingSystem, wanted: Timeslot) -> None:
        """A timed-out MakeBooking may still have been made: find it and cancel it."""
        try:
            for booked in system.subject_schedule(wanted.facility, wanted.subject or ""):
                if booked.start == wanted.start and booked.booking_id:
                    system.cancel_booking(wanted.facility, booked.booking_id, "Booking timed out in the hub")
        except (RivError, BookingRejected):
            log.warning("a timed-out booking at %s could not be checked; the region may hold it", wanted.facility)

    @staticmethod
    def _cancel_remote_quietly(system: BookingSystem, facility: str, booking_id: str) -> None:
        try:
            system.cancel_booking(facility, booking_id, "The hub could not save the booking")
        except (RivError, BookingRejected):
            log.warning("booking %s at %s could not be cancelled after a failed save", booking_id, facility)

    @staticmethod
    def _appointment(slot: dict[str, Any], schedule: dict[str, Any], slot_id: str | None, patient_id: str,
                     encounter_id: str, comment: Any) -> dict[str, Any]:
        participants = [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]
        participants += [{"actor": a, "status": "accepted"} for a in schedule.get("actor") or [] if isinstance(a, dict)]
        appointment: dict[str, Any] = {
            "resourceType": "Appointment", "status": "booked", "slot": [{"reference": f"Slot/{slot_id}"}],
            "start": slot["start"], "end": slot["end"], "participant": participants,
            "supportingInformation": [{"reference": f"Encounter/{encounter_id}"}],
            "created": datetime.now(UTC).date().isoformat(),
        }
        for key in ("serviceType", "serviceCategory", "specialty", "appointmentType"):
            if slot.get(key) or schedule.get(key):
                appointment[key] = slot.get(key) or schedule.get(key)
        if isinstance(comment, str) and comment.strip():
            appointment["comment"] = comment.strip()
        return appointment

    # --- $cancel-booking -------------------------------------------------------------------

    def cancel(self, conn: Connection, req: FhirRequest, _t: str | None, appointment_id: str | None) -> FhirResponse:
        """Cancel the Appointment, free its Slots, and cancel the region's booking."""
        self._check_clinician(req)
        stored = self._read(conn, "Appointment", appointment_id, "Appointment")
        appointment = stored.json()
        if appointment.get("status") == "cancelled":
            return FhirResponse(200, stored.content, version_headers(stored, req.base_url))
        reason = _param(req, "reason")
        for ref in appointment.get("slot") or []:
            slot = self.server.repo.read(conn, "Slot", _ref_id(ref, "Slot") or "")
            if slot is not None and not slot.deleted and slot.json().get("status") == "busy":
                self.server.repo.update(conn, slot, {**slot.json(), "status": "free"})
        appointment["status"] = "cancelled"
        if isinstance(reason, str) and reason.strip():
            appointment["cancelationReason"] = {"text": reason.strip()}
        updated = self.server.repo.update(conn, stored, appointment)
        # The region last: any refusal or failure there rolls the hub's own changes back.
        for ident in appointment.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == BOOKING_ID_SYSTEM:
                facility = _hsa({"identifier": [(ident.get("assigner") or {}).get("identifier") or {}]})
                system = self.systems(facility) if facility else None
                if system is not None and facility is not None:
                    self._cancel_remote(system, facility, str(ident.get("value")), reason)
        return FhirResponse(200, updated.content, version_headers(updated, req.base_url))

    def move(self, conn: Connection, req: FhirRequest, _t: str | None, appointment_id: str | None) -> FhirResponse:
        """Move the Appointment to the free Slot named by `slot`; the old Slots are freed, the region's booking moved."""
        self._check_clinician(req)
        stored = self._read(conn, "Appointment", appointment_id, "Appointment")
        appointment = stored.json()
        if appointment.get("status") not in ACTIVE - {"fulfilled"}:
            raise Conflict(f"Appointment/{appointment_id} is {appointment.get('status')}; only a booking not yet "
                           "held can be moved", ("Appointment.status",))
        new_id = _ref_id(_param(req, "slot"), "Slot")
        if new_id is None:
            raise BadRequest("Name the new time: parameter slot = Reference(Slot/<id>)", ("slot",))
        old = [_ref_id(ref, "Slot") for ref in appointment.get("slot") or []]
        claimed = self._claim(conn, new_id, "slot")
        for slot_id in old:
            slot = self.server.repo.read(conn, "Slot", slot_id or "")
            if slot is not None and not slot.deleted and slot.json().get("status") == "busy":
                self.server.repo.update(conn, slot, {**slot.json(), "status": "free"})
        for ident in appointment.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") == BOOKING_ID_SYSTEM:
                self._move_remote(ident, claimed)
        patient = [p for p in appointment.get("participant") or []
                   if _ref_id((p or {}).get("actor"), "Patient")]
        moved = {**appointment, "slot": [{"reference": f"Slot/{claimed.slot_id}"}], "start": claimed.slot["start"],
                 "end": claimed.slot["end"],
                 "participant": patient + [{"actor": a, "status": "accepted"} for a in claimed.schedule.get("actor") or []
                                           if isinstance(a, dict)]}
        if self.server.guard is None:
            updated = self.server.repo.update(conn, stored, moved)
            return FhirResponse(200, updated.content, version_headers(updated, req.base_url))
        put = FhirRequest(method="PUT", path=f"Appointment/{appointment_id}", body=moved, caller=req.caller,
                          base_url=req.base_url, headers={"prefer": "return=representation"})
        return self.server.dispatch(conn, put)

    def _move_remote(self, ident: dict[str, Any], claimed: Claimed) -> None:
        facility = _hsa({"identifier": [(ident.get("assigner") or {}).get("identifier") or {}]})
        system = self.systems(facility) if facility else None
        if system is None or facility is None:
            return
        if claimed.facility != facility:
            raise Conflict("A booking in the region's system moves within its unit only; cancel it and book the "
                           "other unit's time instead", ("slot",))
        wanted = Timeslot(facility, claimed.start, claimed.end, performer=claimed.performer)
        try:
            system.update_booking(str(ident.get("value")), wanted)
        except BookingRejected as exc:
            raise Conflict(f"The region's booking system refused the move: {exc.result_text}", ("slot",)) from None
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}; the booking was not moved",
                                 ("$move-booking",)) from None

    @staticmethod
    def _cancel_remote(system: BookingSystem, facility: str, booking_id: str, reason: Any) -> None:
        try:
            system.cancel_booking(facility, booking_id, reason if isinstance(reason, str) else "")
        except BookingRejected as exc:
            raise Conflict(f"The region's booking system refused the cancellation: {exc.result_text}",
                           ("$cancel-booking",)) from None
        except RivError as exc:
            raise UpstreamFailed(f"The region's booking system failed: {exc}; the booking stands",
                                 ("$cancel-booking",)) from None


def slot_claim_check(repo: ResourceRepository) -> Callable[[Connection, list[Change]], None]:
    """Return the write listener that refuses an active Appointment taking a Slot it did not claim."""

    def refuse_unclaimed_slots(conn: Connection, fresh: list[Change]) -> None:
        claimed = {c.res_id for c in recorded(conn) if c.res_type == "Slot" and c.json().get("status") == "busy"}
        for change in fresh:
            appointment = change.json()
            if change.res_type != "Appointment" or appointment.get("status") not in ACTIVE:
                continue
            slots = {_ref_id(ref, "Slot") for ref in appointment.get("slot") or []} - {None}
            if change.version > 1:  # the slots an active booking already held stay its own
                previous = repo.vread(conn, "Appointment", change.res_id, change.version - 1)
                if previous is not None and not previous.deleted and previous.json().get("status") in ACTIVE:
                    slots -= {_ref_id(ref, "Slot") for ref in previous.json().get("slot") or []}
            unclaimed = sorted(s for s in slots if s and s not in claimed)
            if unclaimed:
                raise Conflict(f"Slot/{unclaimed[0]} is booked through Slot/{unclaimed[0]}/$book, which claims it; "
                               "an Appointment cannot take a Slot on its own", ("Appointment.slot",))

    return refuse_unclaimed_slots


def register_booking(server: FhirServer, systems: BookingSystems) -> Booking:
    """Register `$book`, `$cancel-booking`, `$move-booking` and the Slot-claim check; list BOOKING_OPERATIONS on the guard."""
    booking = Booking(server, systems)
    server.add_operation(Operation(
        name=BOOK, handler=booking.book, types=frozenset({"Slot"}), type_level=False, instance_level=True,
        writes=True, idempotent=False,
        documentation="Book this free Slot for the patient of a case (parameter encounter); the Slot becomes busy "
                      "and an Appointment is created, mirrored to the region's booking system when the unit uses one. "
                      "A Slot booked meanwhile, or refused by the region (with its resultText), is 409. With "
                      "close-case = true the case ends as booked (Task booked, Encounter finished) in the same "
                      "transaction",
    ))
    server.add_operation(Operation(
        name=CANCEL, handler=booking.cancel, types=frozenset({"Appointment"}), type_level=False,
        instance_level=True, writes=True, idempotent=False,
        documentation="Cancel this Appointment (parameter reason); its Slot is free again and the region's booking "
                      "is cancelled",
    ))
    server.add_operation(Operation(
        name=MOVE, handler=booking.move, types=frozenset({"Appointment"}), type_level=False,
        instance_level=True, writes=True, idempotent=False,
        documentation="Move this Appointment to another free Slot (parameter slot): the new Slot is claimed, the old "
                      "one freed, and the region's booking moved with UpdateBooking",
    ))
    server.add_write_listener(slot_claim_check(server.repo))
    return booking


def register_booking_for(server: FhirServer, services: Any) -> Booking:
    """Register booking with a zeep client for each unit the RIV-TA services file lists."""
    from adapters.booking.riv_scheduling import ZeepBookingSystem
    from adapters.riv.soap import RivCaller

    systems: dict[str, BookingSystem] = {facility: ZeepBookingSystem(RivCaller(endpoint))
                                         for facility, endpoint in services.booking}
    booking = register_booking(server, systems.get)
    from hub.booking_region_wiring import register_region_booking  # imports this module

    register_region_booking(server, booking)
    return booking
