"""Find what an access touched and whose data it was, for the AuditEvent and emergency access.

The store's reference index already says which Patient a Task is `for` or a Communication is
`about`, so one query answers "whose data was this" for a whole page of search results; a
resource that names no patient itself (a transfer Provenance, a QuestionnaireResponse found
through a Task) is followed one step along its case links. A Binary belongs to whoever its
securityContext belongs to.
https://hl7.org/fhir/R4/compartmentdefinition-patient.html
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from fhir_api.guard import Route
from fhir_api.messages import FhirResponse
from fhir_api.store.repository import ResourceRepository
from fhir_api.store.schema import idx_reference, resources
from hub.access.visibility import View

Entry = tuple[str, str]  # resource type, id
PATIENT_LINKS = ("patient", "subject", "recipient", "sender")
CASE_LINKS = ("encounter", "target", "focus")


def entries_of(route: Route, resp: FhirResponse) -> list[Entry]:
    """Return the resources an interaction read or wrote: the instance, or a search's entries."""
    if route.interaction == "search":
        body = resp.body if isinstance(resp.body, dict) else {}
        out = []
        for entry in body.get("entry") or []:
            url = entry.get("fullUrl") if isinstance(entry, dict) else None
            if isinstance(url, str) and url.count("/") >= 1:
                parts = url.rsplit("/", 2)
                out.append((parts[-2], parts[-1]))
        return out
    if route.interaction == "create" or (route.res_id is None and route.interaction == "update"):
        location = resp.headers.get("Location", "")
        parts = location.split("/")
        if "_history" in parts and parts.index("_history") >= 2:
            at = parts.index("_history")
            return [(parts[at - 2], parts[at - 1])]
        return []
    if route.res_type and route.res_id:
        return [(route.res_type, route.res_id)]
    return []


def security_context(conn: Connection, repo: ResourceRepository, res_type: str, res_id: str) -> Entry | None:
    """Return what a live Binary's securityContext points at, or None."""
    stored = repo.read(conn, res_type, res_id)
    if stored is None or stored.deleted:
        return None
    ref = stored.json().get("securityContext")
    text = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(text, str) or text.count("/") != 1:
        return None
    kind, _, ident = text.partition("/")
    return kind, ident


def _by_type(entries: Iterable[Entry]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for res_type, res_id in entries:
        grouped.setdefault(res_type, []).append(res_id)
    return grouped


def _linked(conn: Connection, entries: Sequence[Entry], params: Sequence[str],
            targets: Sequence[str]) -> dict[Entry, set[Entry]]:
    """Return, per entry, the (type, id) it references through these parameters."""
    if not entries:
        return {}
    i, r = idx_reference, resources
    which = or_(*(and_(r.c.res_type == t, r.c.res_id.in_(ids)) for t, ids in _by_type(entries).items()))
    rows = conn.execute(select(r.c.res_type, r.c.res_id, i.c.target_type, i.c.target_id)
                        .join(i, i.c.rid == r.c.rid)
                        .where(which, i.c.param.in_(params), i.c.target_type.in_(targets))).all()
    out: dict[Entry, set[Entry]] = {}
    for row in rows:
        out.setdefault((row[0], row[1]), set()).add((row[2], row[3]))
    return out


def patients_of(conn: Connection, repo: ResourceRepository, entries: Sequence[Entry]) -> list[str]:
    """Return the ids of the Patients whose data these resources are, sorted."""
    patients = {i for t, i in entries if t == "Patient"}
    rest: list[Entry] = []
    for t, i in entries:
        if t == "Binary":
            target = security_context(conn, repo, t, i)
            if target is not None and target[0] == "Patient":
                patients.add(target[1])
            elif target is not None and target[0] != "Binary":
                rest.append(target)
        elif t != "Patient":
            rest.append((t, i))
    direct = _linked(conn, rest, PATIENT_LINKS, ("Patient",))
    patients |= {i for found in direct.values() for _, i in found}
    orphans = [e for e in rest if e not in direct]
    if orphans:
        cases = _linked(conn, orphans, CASE_LINKS, ("Encounter", "Task"))
        hop = sorted({e for found in cases.values() for e in found})
        patients |= {i for found in _linked(conn, hop, PATIENT_LINKS, ("Patient",)).values() for _, i in found}
    return sorted(patients)


@functools.cache
def _normal_alias() -> Any:
    return resources.alias("access_normal")


def visible_normally(conn: Connection, repo: ResourceRepository, view: View, entries: Sequence[Entry]) -> bool:
    """Tell whether every entry is visible without emergency access (the caller's own unit's cases)."""
    r = _normal_alias()
    plain: list[Entry] = []
    for entry in entries:
        target = security_context(conn, repo, *entry) if entry[0] == "Binary" else entry
        if target is None or target[0] == "Binary":
            return False
        plain.append(target)
    for res_type, ids in _by_type(plain).items():
        cond = view.condition(res_type, r, writing=True)
        if cond is None:
            continue
        found = conn.execute(select(r.c.res_id).where(r.c.res_type == res_type, r.c.res_id.in_(ids), cond)).all()
        if len(found) < len(set(ids)):
            return False
    return True
