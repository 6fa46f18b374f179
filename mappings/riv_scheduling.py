"""Translate crm:scheduling 1.1 times and bookings to and from FHIR Slot and Appointment.

Why: the region's booking system speaks in `TimeslotType` (local `YYYYMMDDhhmmss` times,
facility and performer as bare HSA-ids, the citizen as a twelve-digit personnummer), the hub
in Slot and Appointment. The one `Timeslot` value here is what both sides of the booking
port exchange, so the zeep client and the fake agree on it by construction.
https://hl7.org/fhir/R4/slot.html, https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mappings.hsa import (
    PERSONNUMMER_FHIR_SYSTEM,
    UnmappedIdentifier,
    fhir_instant,
    hsa_reference,
    parse_fhir_instant,
    riv_timestamp,
)

BOOKING_ID_SYSTEM = "https://ingang.se/fhir/sid/riv-booking-id"
REGION_TIME_SYSTEM = "https://ingang.se/fhir/sid/riv-timeslot"


@dataclass(frozen=True)
class Timeslot:
    """A time at a facility (a unit, by HSA-id), free or booked for a subject of care."""

    facility: str
    start: datetime
    end: datetime
    performer: str | None = None
    booking_id: str | None = None
    subject: str | None = None
    reason: str | None = None
    facility_name: str | None = None
    performer_name: str | None = None
    care_type: str | None = None

    @property
    def key(self) -> str:
        """Return a stable id for a free time: facility, start and performer."""
        return "|".join((self.facility, riv_timestamp(self.start), self.performer or ""))

    def booked_for(self, subject: str, reason: str | None = None) -> Timeslot:
        """Return this time as requested for a subject of care."""
        return replace(self, subject=subject, reason=reason)


def _moment(value: Any, where: str) -> datetime:
    text = fhir_instant(str(value or "")) if value else None
    if text is None:
        raise UnmappedIdentifier(f"the timeslot has no {where}")
    return parse_fhir_instant(text)


def timeslot_from_riv(data: dict[str, Any]) -> Timeslot:
    """Read a `TimeslotType` element (as zeep returns it)."""
    return Timeslot(
        facility=str(data.get("healthcare_facility") or ""), start=_moment(data.get("startTimeInclusive"), "start"),
        end=_moment(data.get("endTimeExclusive"), "end"), performer=data.get("performer") or None,
        booking_id=data.get("bookingId") or None, subject=data.get("subject_of_care") or None,
        reason=data.get("reason") or None, facility_name=data.get("healthcare_facility_name") or None,
        performer_name=data.get("performerName") or None, care_type=data.get("careTypeName") or None,
    )


def timeslot_to_riv(slot: Timeslot) -> dict[str, Any]:
    """Write a `TimeslotType` element for MakeBooking or UpdateBooking."""
    out = {"startTimeInclusive": riv_timestamp(slot.start), "endTimeExclusive": riv_timestamp(slot.end),
           "healthcare_facility": slot.facility, "performer": slot.performer, "bookingId": slot.booking_id,
           "subject_of_care": slot.subject, "reason": slot.reason}
    return {k: v for k, v in out.items() if v is not None}


def _utc(moment: datetime) -> str:
    return fhir_instant(riv_timestamp(moment)) or ""


def region_slot(slot: Timeslot) -> dict[str, Any]:
    """Show a free time of the region's booking system as a Slot (not stored: no schedule in the hub)."""
    resource: dict[str, Any] = {
        "resourceType": "Slot", "identifier": [{"system": REGION_TIME_SYSTEM, "value": slot.key}],
        "schedule": {"display": " / ".join(x for x in (slot.facility_name or slot.facility, slot.performer_name) if x)},
        "status": "free", "start": _utc(slot.start), "end": _utc(slot.end),
    }
    if slot.care_type:
        resource["serviceType"] = [{"text": slot.care_type}]
    return resource


def region_appointment(slot: Timeslot) -> dict[str, Any]:
    """Show a booking of the region's booking system as an Appointment (not stored)."""
    participants: list[dict[str, Any]] = []
    if slot.subject:
        participants.append({"actor": {"identifier": {"system": PERSONNUMMER_FHIR_SYSTEM, "value": slot.subject}},
                             "status": "accepted"})
    for hsa_id, name in ((slot.performer, slot.performer_name), (slot.facility, slot.facility_name)):
        ref = hsa_reference(hsa_id, name)
        if ref:
            participants.append({"actor": ref, "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment", "status": "booked", "start": _utc(slot.start), "end": _utc(slot.end),
        "participant": participants,
    }
    if slot.booking_id:
        resource["identifier"] = [booking_identifier(slot.facility, slot.booking_id)]
    if slot.reason:
        resource["description"] = slot.reason
    return resource


def booking_identifier(facility: str, booking_id: str) -> dict[str, Any]:
    """Return the Identifier an Appointment carries for its booking in the region's system."""
    return {"system": BOOKING_ID_SYSTEM, "value": booking_id, "assigner": hsa_reference(facility)}


@dataclass(frozen=True)
class SubjectOfCareInfo:
    """Who the booking is for, as MakeBooking must be told: name, and how to reach them."""

    first_name: str
    last_name: str
    phone: str | None = None
    email: str | None = None

    def to_riv(self) -> dict[str, Any]:
        """Write a `SubjectOfCareType` element."""
        out = {"phone": self.phone, "email": self.email, "firstName": self.first_name, "lastName": self.last_name}
        return {k: v for k, v in out.items() if v is not None}


def subject_info(patient: dict[str, Any]) -> SubjectOfCareInfo:
    """Read the name and contact points MakeBooking needs from a FHIR Patient."""
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given, family = " ".join(name.get("given") or []), name.get("family") or ""
    if not given or not family:
        raise UnmappedIdentifier("the booking system needs the patient's given and family name")
    telecom = {t.get("system"): t.get("value") for t in reversed(patient.get("telecom") or []) if isinstance(t, dict)}
    return SubjectOfCareInfo(given, family, telecom.get("phone"), telecom.get("email"))
