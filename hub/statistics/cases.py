"""Read a region's cases from the store and reduce each to the facts its figures need.

A case is the Task the triage opened (code `triage-case`), selected by its authoredOn
through the date index, then read with every version, because claims are steps in its
history: a version that puts a waiting case in progress is a claim by the PractitionerRole
that then owns it, at the unit that owned it just before. A case belongs to the region when
the unit it was first routed to is one of the region's Organizations (`partOf`, any depth).
Emergency and self-care cases are closed at once without a unit; they belong to the region
their patient's address names (state or district equal to the region's name or HSA-id), as
the triage's routing decides. The complaint is the Encounter's reasonCode.
https://hl7.org/fhir/R4/task.html , https://hl7.org/fhir/R4/encounter.html
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, false, select

from cases.intake import DISPOSITION_SYSTEM
from cases.lifecycle import WAITING_STATES, NotACase, State, is_case_task, owner_of, state_of
from fhir_api.store.schema import idx_date, resource_versions, resources
from hub.access.resolve import org_id, units_under
from hub.statistics.figures import SWEDISH_TIME, UNKNOWN, CaseFacts, Claim, Names

CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Region:
    """A region's Organization: its id, HSA-id, name, and the ids of the units below it."""

    org_id: str
    hsa_id: str
    name: str
    units: frozenset[str]


def find_region(conn: Connection, hsa_id: str) -> Region | None:
    """Return the region whose Organization has this HSA-id, or None when the hub knows none."""
    found = org_id(conn, hsa_id)
    if found is None:
        return None
    org = _read(conn, "Organization", [found]).get(found, {})
    return Region(found, hsa_id, str(org.get("name") or hsa_id), frozenset(units_under(conn, found)))


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """Return the naive-UTC instants that start `first` and end `last`, as Swedish days."""
    start = datetime.combine(first, time.min, SWEDISH_TIME).astimezone(UTC).replace(tzinfo=None)
    end = datetime.combine(last + timedelta(days=1), time.min, SWEDISH_TIME).astimezone(UTC).replace(tzinfo=None)
    return start, end


def load_cases(conn: Connection, region: Region, first: date, last: date) -> tuple[list[CaseFacts], Names]:
    """Return the facts of every case opened on the Swedish days `first`..`last` that touched the region."""
    start, end = day_bounds(first, last)
    d = idx_date
    rows = conn.execute(
        select(resources.c.rid, resources.c.res_id, resources.c.content)
        .join(d, d.c.rid == resources.c.rid)
        .where(resources.c.res_type == "Task", resources.c.deleted == false(), d.c.res_type == "Task",
               d.c.param == "authored-on", d.c.low >= start, d.c.low < end)
        .order_by(resources.c.rid)
    ).all()
    tasks = {int(r.rid): (r.res_id, orjson.loads(r.content)) for r in rows if r.content}
    tasks = {rid: t for rid, t in tasks.items() if is_case_task(t[1])}
    histories = _histories(conn, list(tasks))
    encounters = _read(conn, "Encounter", [_ref_id(t.get("encounter"), "Encounter") for _, t in tasks.values()])
    unitless = [_ref_id(t.get("for"), "Patient") for _, t in tasks.values() if not _unit_of(t)]
    patients = _read(conn, "Patient", unitless)
    facts: list[CaseFacts] = []
    for rid, (task_id, task) in tasks.items():
        versions = histories.get(rid) or [task]
        opening_unit = next((u for u in map(_unit_of, versions) if u), None)
        claims = tuple(c for c in _claims(versions) if c.unit_id in region.units)
        if opening_unit is not None:
            counted = opening_unit in region.units
        else:
            patient = patients.get(_ref_id(task.get("for"), "Patient") or "", {})
            counted = _lives_in(patient, region)
        if not counted and not claims:
            continue
        encounter = encounters.get(_ref_id(task.get("encounter"), "Encounter") or "", {})
        waiting_at = _unit_of(task) if _state(task) in WAITING_STATES else None
        facts.append(CaseFacts(task_id=task_id, opened=_instant(task.get("authoredOn")) or _epoch(),
                               disposition=_disposition(task), complaint=_complaint(encounter),
                               unit_id=opening_unit, counted=counted, claims=claims,
                               waiting_at=waiting_at if waiting_at in region.units else None))
    return facts, _names(conn, region, facts)


def _histories(conn: Connection, rids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    v = resource_versions
    for chunk in _chunks(rids):
        rows = conn.execute(select(v.c.rid, v.c.content).where(v.c.rid.in_(chunk))
                            .order_by(v.c.rid, v.c.version_id)).all()
        for row in rows:
            if row.content:
                out.setdefault(int(row.rid), []).append(orjson.loads(row.content))
    return out


def _read(conn: Connection, res_type: str, ids: Iterable[str | None]) -> dict[str, dict[str, Any]]:
    wanted = sorted({i for i in ids if i})
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(wanted):
        rows = conn.execute(select(resources.c.res_id, resources.c.content).where(
            resources.c.res_type == res_type, resources.c.res_id.in_(chunk), resources.c.deleted == false())).all()
        out.update({r.res_id: orjson.loads(r.content) for r in rows if r.content})
    return out


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _claims(versions: Sequence[Mapping[str, Any]]) -> Iterator[Claim]:
    """Yield each claim in a Task's history: a step from waiting to in progress."""
    previous: Mapping[str, Any] | None = None
    for version in versions:
        if previous is not None and _state(version) == State.IN_PROGRESS and _state(previous) in WAITING_STATES:
            role = _ref_id(version.get("owner"), "PractitionerRole")
            at = _instant(version.get("lastModified"))
            if role and at:
                yield Claim(role_id=role, unit_id=_unit_of(previous), at=at)
        previous = version


def _state(task: Mapping[str, Any]) -> State | None:
    try:
        return state_of(task)
    except NotACase:
        return None


def _unit_of(task: Mapping[str, Any]) -> str | None:
    return _ref_id({"reference": owner_of(task)}, "Organization")


def _ref_id(reference: Any, res_type: str) -> str | None:
    value = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(value, str):
        return None
    kind, _, ident = value.rpartition("/")
    return ident if kind.rsplit("/", 1)[-1] == res_type and ident else None


def _codes(concept: Any, system: str | None = None) -> list[str]:
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return [c["code"] for c in codings or [] if isinstance(c, Mapping) and isinstance(c.get("code"), str)
            and (system is None or c.get("system") == system)]


def _disposition(task: Mapping[str, Any]) -> str:
    for output in task.get("output") or []:
        if isinstance(output, Mapping) and "disposition" in _codes(output.get("type")):
            codes = _codes(output.get("valueCodeableConcept"), DISPOSITION_SYSTEM)
            if codes:
                return codes[0]
    return UNKNOWN


def _complaint(encounter: Mapping[str, Any]) -> str:
    for reason in encounter.get("reasonCode") or []:
        codes = _codes(reason)
        if codes:
            return codes[0]
    return UNKNOWN


def _lives_in(patient: Mapping[str, Any], region: Region) -> bool:
    wanted = {region.name.casefold(), region.hsa_id.casefold()}
    for address in patient.get("address") or []:
        if isinstance(address, Mapping):
            for part in (address.get("state"), address.get("district")):
                if isinstance(part, str) and part.strip().casefold() in wanted:
                    return True
    return False


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)


def _names(conn: Connection, region: Region, facts: Sequence[CaseFacts]) -> Names:
    """Return display names for the units and the claiming clinicians in the figures."""
    unit_ids = {u for f in facts for u in (f.unit_id, f.waiting_at, *(c.unit_id for c in f.claims)) if u}
    units = {i: str(org.get("name") or i) for i, org in _read(conn, "Organization", unit_ids).items()}
    roles = _read(conn, "PractitionerRole", {c.role_id for f in facts for c in f.claims})
    people = _read(conn, "Practitioner", [_ref_id(r.get("practitioner"), "Practitioner") for r in roles.values()])
    names: dict[str, str] = {}
    for role_id, role in roles.items():
        person = people.get(_ref_id(role.get("practitioner"), "Practitioner") or "", {})
        names[role_id] = _person_name(person) or role_id
    return Names(units=units, roles=names)


def _person_name(person: Mapping[str, Any]) -> str:
    for name in person.get("name") or []:
        if isinstance(name, Mapping):
            text = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
            if text:
                return str(text)
    return ""
