"""Translate HSA-ids, personnummer and timestamps between FHIR and RIV-TA.

Why: FHIR names an HSA-id with the system `urn:oid:1.2.752.29.4.19`, while RIV-TA contracts
give the root OID `1.2.752.129.2.1.4.1`, and a person's id as `{id, type}` with the
personnummer OID `1.2.752.129.2.1.3.1` (samordningsnummer `…3.3`). RIV-TA timestamps are
`YYYYMMDDhhmmss` in Swedish local time, where FHIR dateTime carries its offset. Getting any of
these wrong sends a request for the wrong person or the wrong hour, so they live in one place.
https://hl7.org/fhir/R4/datatypes.html#dateTime, https://hl7.org/fhir/R4/datatypes.html#Identifier
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

HSA_FHIR_SYSTEM = "urn:oid:1.2.752.29.4.19"
HSA_RIV_OID = "1.2.752.129.2.1.4.1"
PERSONNUMMER_FHIR_SYSTEM = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_FHIR_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
PERSONNUMMER_RIV_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_RIV_OID = "1.2.752.129.2.1.3.3"
PERSON_SYSTEMS = (PERSONNUMMER_FHIR_SYSTEM, SAMORDNINGSNUMMER_FHIR_SYSTEM)
SWEDEN = ZoneInfo("Europe/Stockholm")

# FHIR identifier system ⇄ RIV-TA OID, both ways.
FHIR_TO_RIV = {
    HSA_FHIR_SYSTEM: HSA_RIV_OID,
    PERSONNUMMER_FHIR_SYSTEM: PERSONNUMMER_RIV_OID,
    SAMORDNINGSNUMMER_FHIR_SYSTEM: SAMORDNINGSNUMMER_RIV_OID,
}
RIV_TO_FHIR = {riv: fhir for fhir, riv in FHIR_TO_RIV.items()}


class UnmappedIdentifier(ValueError):
    """An identifier or timestamp with no counterpart on the other side."""


def riv_oid(fhir_system: str) -> str:
    """Return the RIV-TA OID for a FHIR identifier system (`urn:oid:1.2.752.29.4.19` → `…129.2.1.4.1`)."""
    try:
        return FHIR_TO_RIV[fhir_system]
    except KeyError:
        raise UnmappedIdentifier(f"no RIV-TA OID is known for the identifier system {fhir_system!r}") from None


def fhir_system(oid: str) -> str:
    """Return the FHIR identifier system for a RIV-TA OID (with or without `urn:oid:`)."""
    try:
        return RIV_TO_FHIR[oid.removeprefix("urn:oid:")]
    except KeyError:
        raise UnmappedIdentifier(f"no FHIR identifier system is known for the OID {oid!r}") from None


def hsa_identifier(hsa_id: str) -> dict[str, str]:
    """Return an HSA-id as a FHIR Identifier."""
    return {"system": HSA_FHIR_SYSTEM, "value": hsa_id}


def hsa_reference(hsa_id: str | None, display: str | None = None) -> dict[str, Any] | None:
    """Return a logical Reference to the unit or person an HSA-id names, or None without one."""
    if not hsa_id:
        return None
    ref: dict[str, Any] = {"identifier": hsa_identifier(hsa_id)}
    if display:
        ref["display"] = display
    return ref


def riv_person_id(identifier: dict[str, Any]) -> dict[str, str]:
    """Turn a FHIR personnummer or samordningsnummer Identifier into RIV-TA's PersonIdType."""
    value = str(identifier.get("value") or "").replace("-", "")
    if len(value) != 12 or not value.isdigit():
        raise UnmappedIdentifier("RIV-TA needs a twelve-digit personnummer or samordningsnummer")
    return {"id": value, "type": riv_oid(str(identifier.get("system") or ""))}


def fhir_person_identifier(person_id: dict[str, Any]) -> dict[str, str]:
    """Turn RIV-TA's PersonIdType back into a FHIR Identifier."""
    return {"system": fhir_system(str(person_id.get("type") or "")), "value": str(person_id.get("id") or "")}


def riv_timestamp(moment: datetime) -> str:
    """Return `YYYYMMDDhhmmss` in Swedish local time for an aware datetime."""
    if moment.tzinfo is None:
        raise UnmappedIdentifier("a time without a time zone cannot be sent to RIV-TA")
    return moment.astimezone(SWEDEN).strftime("%Y%m%d%H%M%S")


def riv_date(day: date) -> str:
    """Return `YYYYMMDD`."""
    return day.strftime("%Y%m%d")


def fhir_instant(timestamp: str | None) -> str | None:
    """Return a RIV-TA timestamp (local Swedish time) as a FHIR dateTime in UTC, or None."""
    if not timestamp:
        return None
    try:
        local = datetime.strptime(timestamp[:14], "%Y%m%d%H%M%S").replace(tzinfo=SWEDEN)
    except ValueError:
        raise UnmappedIdentifier(f"{timestamp!r} is not a RIV-TA timestamp (YYYYMMDDhhmmss)") from None
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_fhir_instant(value: str) -> datetime:
    """Parse a FHIR dateTime with its offset; a value without one is refused."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnmappedIdentifier(f"{value!r} is not a FHIR dateTime") from None
    if moment.tzinfo is None:
        raise UnmappedIdentifier(f"{value!r} has no time zone")
    return moment
