"""Turn what a unit of work wrote into live events: which topic hears of which change, and what it says.

A chat message or receipt goes to its encounter's topic with the whole Communication (the two
parties may read it) and `seq`, the store's version key, so a client can resume from the last
one it saw. A Task or Encounter change goes to the waiting room of every unit it concerns and
to its encounter's topic, and says only what changed state: its id, version and status, and
the case's complaint as a named Coding (a word of the triage's vocabulary, never who it is
about), so a screen can show a new case's complaint at once. A booking (Appointment) change
goes to the topic of each encounter it was booked for, so the citizen's open case page learns
of a time booked for them; it says only id, version and status. Screens read the details
through the FHIR API, which audits that read.
https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/communication.html,
https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from communication.bus import encounter_topic, waiting_room_topic
from communication.chat import chat_event_code, encounter_of


@dataclass(frozen=True)
class LiveEvent:
    """One message for one topic."""

    topic: str
    message: dict[str, Any]


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    prefix = f"{res_type}/"
    return ref[len(prefix):] if isinstance(ref, str) and ref.startswith(prefix) else None


def communication_events(resource: Mapping[str, Any], *, res_id: str, method: str, seq: int) -> list[LiveEvent]:
    """Return the event for a created or updated Communication of an encounter (none otherwise)."""
    encounter = encounter_of(resource)
    if encounter is None or method not in ("create", "update"):
        return []
    code = chat_event_code(resource)
    if code is not None:
        kind = code
    else:
        kind = "message" if method == "create" else "receipt"
    return [LiveEvent(encounter_topic(encounter), {"type": kind, "seq": seq, "id": res_id,
                                                   "resource": dict(resource)})]


def owner_reference(task: Mapping[str, Any]) -> str:
    """Return a Task's owner reference (`Organization/x` or `PractitionerRole/y`), or ''."""
    owner = task.get("owner")
    ref = owner.get("reference") if isinstance(owner, Mapping) else None
    return ref if isinstance(ref, str) else ""


def case_events(res_type: str, resource: Mapping[str, Any], *, res_id: str, version: int, method: str,
                units: Iterable[str], complaint: Mapping[str, Any] | None = None) -> list[LiveEvent]:
    """Return the events for a Task or Encounter change: to each unit's waiting room and the encounter."""
    if res_type not in ("Task", "Encounter"):
        return []
    message: dict[str, Any] = {"type": res_type.lower(), "id": res_id, "version": version, "method": method}
    if resource:
        message["status"] = resource.get("status")
    if complaint:
        message["complaint"] = dict(complaint)
    encounter: str | None
    if res_type == "Task":
        business = resource.get("businessStatus") if resource else None
        codes = [c.get("code") for c in (business or {}).get("coding") or [] if isinstance(c, Mapping)]
        message["businessStatus"] = codes[0] if codes else None
        message["owner"] = owner_reference(resource) or None
        encounter = _ref_id(resource.get("encounter"), "Encounter") if resource else None
    else:
        encounter = res_id
    if encounter:
        message["encounter"] = encounter
    events = [LiveEvent(waiting_room_topic(unit), message) for unit in sorted(set(units)) if unit]
    if encounter:
        events.append(LiveEvent(encounter_topic(encounter), message))
    return events


def appointment_events(resource: Mapping[str, Any], *, res_id: str, version: int, method: str,
                       booked_for: Mapping[str, Any] | None = None) -> list[LiveEvent]:
    """Return the events for a booking change: one to each encounter it was booked for.

    `booked_for` is the version to find the encounters in when `resource` cannot say (a delete).
    """
    source = resource or booked_for or {}
    encounters = sorted({e for e in (_ref_id(r, "Encounter") for r in source.get("supportingInformation") or [])
                         if e})
    message: dict[str, Any] = {"type": "appointment", "id": res_id, "version": version, "method": method,
                               "status": resource.get("status") if resource else None}
    return [LiveEvent(encounter_topic(e), {**message, "encounter": e}) for e in encounters]


def unit_of_encounter(encounter: Mapping[str, Any]) -> str | None:
    """Return the id of the care unit an Encounter is at (its serviceProvider)."""
    return _ref_id(encounter.get("serviceProvider"), "Organization")
