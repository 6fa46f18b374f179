"""Find out what a create or update would attach a resource to, for `cases.access.write_ruling`.

A body is read with the store's own indexer, so "the Task's owner" or "the Encounter's
serviceProvider" means exactly what search and the access filters mean by it. A write is in
reach when it is anchored where the caller works: a citizen's compartment; a case of the
clinician's unit (never one only open to them by emergency access, which is for reading); a
unit of the regional system's region. An update needs the stored version in reach and keeps
its patient, but may move a case on: a transfer hands the Task to another unit.
https://hl7.org/fhir/R4/http.html#create, https://hl7.org/fhir/R4/http.html#update
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from cases.access import Action, Kind, Reach, WriteFacts, kind_of
from fhir_api.indexing import index_rows
from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.schema import idx_reference, resources
from hub.access.visibility import DEFAULT_PATIENT_PARAMS, PATIENT_LEVEL, PATIENT_PARAMS, View

Ref = tuple[str, str, str]  # search parameter, target type, target id
# References that make their target part of a case (see visibility.py): each one a write adds
# must point at something the caller may write for, or a Task could be aimed at any record.
LINK_PARAMS = frozenset({"encounter", "focus", "target", "supporting-info", "securityContext"})
# Directory resources and the parameter that names the Organization they belong to.
DIRECTORY_ORG_PARAM = {"Organization": "partof", "PractitionerRole": "organization",
                       "Location": "organization", "HealthcareService": "organization"}


def references(body: dict[str, Any], registry: SearchParamRegistry, base_url: str | None = None) -> list[Ref]:
    """Return the local references of a resource, by search parameter, as the store indexes them."""
    refs: list[Ref] = [(row["param"], row["target_type"], row["target_id"])
                       for row in index_rows(body, registry, base_url=base_url)["reference"]
                       if row.get("target_type") and row.get("target_id")]
    context = body.get("securityContext") if body.get("resourceType") == "Binary" else None
    text = context.get("reference") if isinstance(context, dict) else None
    if isinstance(text, str) and text.count("/") == 1:
        kind, _, ident = text.partition("/")
        refs.append(("securityContext", kind, ident))
    return refs


def patients_named(res_type: str, refs: Sequence[Ref]) -> frozenset[str]:
    """Return the Patient ids a resource names where the compartment rules look."""
    if res_type == "Patient":
        return frozenset()
    params = PATIENT_PARAMS.get(res_type, DEFAULT_PATIENT_PARAMS)
    return frozenset(i for p, t, i in refs if t == "Patient" and p in params)


def _of(refs: Sequence[Ref], param: str, *types: str) -> list[tuple[str, str]]:
    return [(t, i) for p, t, i in refs if p == param and (not types or t in types)]


class WriteChecker:
    """Compute `WriteFacts` for the caller's View on the request's connection."""

    def __init__(self, conn: Connection, view: View, registry: SearchParamRegistry,
                 visible: Callable[[Connection, View, str, str, bool], bool], base_url: str | None = None) -> None:
        self.conn = conn
        self.view = view
        self.registry = registry
        self.visible = visible
        self.base_url = base_url

    def facts(self, res_type: str, action: Action, body: Any, current: dict[str, Any] | None,
              res_id: str = "") -> WriteFacts:
        """Return the facts of creating `body`, or of updating `current` (stored as `res_id`) to it."""
        if not isinstance(body, dict) or body.get("resourceType") != res_type:
            # Not a resource of this type (validation will say why); the stored one must still be ours.
            writable = current is None or self.current_writable(res_type, res_id, current)
            return WriteFacts(in_reach=writable, current_writable=writable)
        refs = self.references(body)
        before = self.references(current) if action is Action.UPDATE and current is not None else []
        anchored, names = self.anchored(res_type, refs)
        linked = self.links_in_reach(refs, before)
        if action is not Action.UPDATE or current is None:
            return WriteFacts(in_reach=anchored and linked, names_patient=names)
        writable = self.current_writable(res_type, res_id, current)
        # A case may move on (a transfer); directory data must stay in the region.
        keeps = anchored or kind_of(res_type) is Kind.PATIENT
        status = current.get("status")
        return WriteFacts(in_reach=writable and keeps and linked, names_patient=names, current_writable=writable,
                          same_patients=patients_named(res_type, refs) == patients_named(res_type, before),
                          current_status=status if isinstance(status, str) else None)

    def references(self, body: dict[str, Any]) -> list[Ref]:
        """Return a body's references as the store would index them."""
        return references(body, self.registry, self.base_url)

    def links_in_reach(self, refs: Sequence[Ref], before: Sequence[Ref]) -> bool:
        """Tell whether every case link the write adds points at something the caller may write for."""
        kept = {(t, i) for p, t, i in before if p in LINK_PARAMS}
        added = {(t, i) for p, t, i in refs if p in LINK_PARAMS and (t, i) not in kept
                 and kind_of(t) in (Kind.PATIENT, Kind.AUDIT)}
        return all(self.visible(self.conn, self.view, t, i, True) for t, i in added)

    def current_writable(self, res_type: str, res_id: str, current: dict[str, Any]) -> bool:
        """Tell whether the stored version is the caller's to change (or delete)."""
        if res_type == "Practitioner":
            return self.practitioner_in_region(res_id)
        if self.view.reach(res_type) in (Reach.CASES, Reach.COMPARTMENT) and res_type != "Binary":
            return self._sees(res_type, res_id)
        return self.anchored(res_type, self.references(current))[0]

    def anchored(self, res_type: str, refs: Sequence[Ref]) -> tuple[bool, bool]:
        """Return (in reach, names a patient or case) for a resource with these references."""
        kind = self.view.reach(res_type)
        if kind is Reach.EVERYTHING:
            return self._directory(res_type, refs), True
        if res_type == "Binary":
            targets = _of(refs, "securityContext")
            return bool(targets) and all(self._sees(t, i) for t, i in targets), bool(targets)
        if kind is Reach.COMPARTMENT:
            return self._compartment(res_type, refs)
        if kind is Reach.CASES:
            return self._case(res_type, refs)
        return False, True

    def _sees(self, res_type: str, res_id: str) -> bool:
        return self.visible(self.conn, self.view, res_type, res_id, True)

    def _compartment(self, res_type: str, refs: Sequence[Ref]) -> tuple[bool, bool]:
        patients = patients_named(res_type, refs)
        encounters = _of(refs, "encounter", "Encounter")
        names = bool(patients) or res_type == "Patient"
        ok = names and patients <= set(self.view.compartment) and all(self._sees(t, i) for t, i in encounters)
        return ok, names

    def _case(self, res_type: str, refs: Sequence[Ref]) -> tuple[bool, bool]:
        units = self._units()
        encounters = _of(refs, "encounter", "Encounter")
        if res_type == "Patient":
            return True, True
        if res_type == "Encounter":
            served = _of(refs, "service-provider", "Organization")
            return any(i in units for _, i in served), bool(served)
        if res_type == "Task":
            owners = _of(refs, "owner")
            owned = any((t == "Organization" and i in units) or (t == "PractitionerRole" and self._role_at(i, units))
                        for t, i in owners)
            return owned or (bool(encounters) and all(self._sees(t, i) for t, i in encounters)), bool(
                owners or encounters)
        if res_type == "Provenance":
            targets = _of(refs, "target", "Encounter", "Task")
            return any(self._sees(t, i) for t, i in targets), bool(targets)
        if res_type == "Appointment":
            supports = _of(refs, "supporting-info", "Encounter", "Task")
            roles = _of(refs, "actor", "PractitionerRole")
            ok = any(self._sees(t, i) for t, i in supports) or any(self._role_at(i, units) for _, i in roles)
            return ok, bool(supports or roles)
        if res_type in PATIENT_LEVEL:
            patients = _of(refs, "patient", "Patient")
            return bool(patients) and all(self._sees(t, i) for t, i in patients), bool(patients)
        return bool(encounters) and all(self._sees(t, i) for t, i in encounters), bool(encounters)

    def _units(self) -> set[str]:
        return {u for arm in self.view.writable.arms for u in arm.units}

    def _role_at(self, role_id: str, units: set[str]) -> bool:
        return bool(self._orgs_of("PractitionerRole", role_id, "organization") & units)

    def _orgs_of(self, res_type: str, res_id: str, param: str) -> set[str]:
        i = idx_reference
        rows = self.conn.execute(select(i.c.target_id).join(resources, resources.c.rid == i.c.rid).where(
            resources.c.res_type == res_type, resources.c.res_id == res_id, i.c.param == param,
            i.c.target_type == "Organization")).all()
        return {r[0] for r in rows}

    def _directory(self, res_type: str, refs: Sequence[Ref]) -> bool:
        """A regional system writes directory data anchored at its region (or one of its units)."""
        units = self._units() | set(self.view.region_orgs)
        if res_type in DIRECTORY_ORG_PARAM:
            return any(i in units for _, i in _of(refs, DIRECTORY_ORG_PARAM[res_type], "Organization"))
        if res_type == "Practitioner":
            return True  # a new person; their PractitionerRoles say where they work
        if res_type == "Schedule":
            return any(self._actor_at(t, i, units) for t, i in _of(refs, "actor"))
        if res_type == "Slot":
            schedules = _of(refs, "schedule", "Schedule")
            return any(self._actor_at(t, a, units) for _, s in schedules
                       for t, a in self._targets("Schedule", s, "actor"))
        return False

    def _actor_at(self, res_type: str, res_id: str, units: set[str]) -> bool:
        if res_type not in DIRECTORY_ORG_PARAM or res_type == "Organization":
            return False
        return bool(self._orgs_of(res_type, res_id, DIRECTORY_ORG_PARAM[res_type]) & units)

    def _targets(self, res_type: str, res_id: str, param: str) -> list[tuple[str, str]]:
        i = idx_reference
        rows = self.conn.execute(select(i.c.target_type, i.c.target_id).join(resources, resources.c.rid == i.c.rid)
                                 .where(resources.c.res_type == res_type, resources.c.res_id == res_id,
                                        i.c.param == param)).all()
        return [(r[0], r[1]) for r in rows if r[0] and r[1]]

    def practitioner_in_region(self, res_id: str) -> bool:
        """Tell whether a Practitioner has a PractitionerRole at one of the region's units."""
        i = idx_reference
        role_rids = select(i.c.rid).where(i.c.res_type == "PractitionerRole", i.c.param == "practitioner",
                                          i.c.target_type == "Practitioner", i.c.target_id == res_id)
        units = self._units()
        rows = self.conn.execute(select(i.c.target_id).where(
            i.c.rid.in_(role_rids), i.c.param == "organization", i.c.target_type == "Organization")).all()
        return any(r[0] in units for r in rows)
