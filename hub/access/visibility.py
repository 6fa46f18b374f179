"""Turn what a caller may see into SQL conditions on a `resources` row, one per resource type.

The same condition hides rows from search matches, `_include`/`_revinclude`, chained
parameters and `_total` (through fhir_api.search's AccessFilter), and decides a read by id,
so a search can never show what a read would refuse. A case is an Encounter whose
serviceProvider is the unit, or that a Task owned by the unit (the Organization or one of its
PractitionerRoles) points at; everything else of the case hangs off those two by `encounter`
or by a Task's `focus`. Each condition is a correlated EXISTS over a flat join of `idx_reference`
rows, asked row by row from the row's own few references (`rid`), so a search pays a few index
probes per row it looks at and stops with its page, without materialising a unit's caseload.
Two planner habits are kept out: PostgreSQL would hash a whole unit's set when it expects many
rows, blind to the page's LIMIT (`_probe`), and SQLite, whose statistics are averages, would
look the unit's id up in `(res_type, param, target_id)` — thousands of rows at a big unit —
instead of the row's references (`probe_only`). The plans are in bench/README.md (access).
https://hl7.org/fhir/R4/search.html, https://hl7.org/fhir/R4/compartmentdefinition-patient.html
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, FromClause, String, and_, exists, false, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from cases.access import Actor, Reach
from fhir_api.store.schema import idx_reference, idx_token, resources
from hub.access.ownership import owned_by

# Where a resource names its patient, beyond the usual `patient` and `subject`.
PATIENT_PARAMS: dict[str, tuple[str, ...]] = {
    "Communication": ("patient", "subject", "recipient", "sender"),
    "QuestionnaireResponse": ("patient", "subject", "author", "source"),
}
DEFAULT_PATIENT_PARAMS = ("patient", "subject")
# Patient-level resources a clinician sees when the patient has a case at the unit.
PATIENT_LEVEL = frozenset({"RelatedPerson", "Consent"})
# Resources that belong to a case by their `encounter` or as a case Task's `focus`. Any other
# type is hidden from clinicians and systems until a rule names it: an unknown type must not
# fall open, and a search whose `_include` could reach every type stays one small statement.
CASE_LINKED = frozenset({"QuestionnaireResponse", "Communication", "Media", "DocumentReference", "Composition",
                         "Observation"})


class probe_only(FunctionElement[str]):
    """A column SQLite must not look up by index here (`+col`); the column itself elsewhere.

    Used on a unit's or patient's id inside a probe keyed by `rid`: SQLite otherwise picks the
    value index, whose average says two rows where a big unit has thousands.
    """

    type = String()
    inherit_cache = True
    name = "probe_only"


@compiles(probe_only)
def _probe_default(element: probe_only, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(probe_only, "sqlite")
def _probe_sqlite(element: probe_only, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(next(iter(element.clauses)), **kw))


@functools.cache
def _alias(table: str, n: int) -> Any:
    """Return the n-th alias of a table, built once: names are fixed, so compiled SQL is cached."""
    source = idx_reference if table == "ref" else resources
    return source.alias(f"acc_{table}_{n}")


class _Names:
    """Hand out distinct alias names within one condition (the engine's own are `resources_1` …)."""

    def __init__(self) -> None:
        self.n = 0

    def ref(self) -> Any:
        self.n += 1
        return _alias("ref", self.n)

    def res(self) -> Any:
        self.n += 1
        return _alias("res", self.n)


def _probe(source: Any, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS, asked row by row: OFFSET 0 keeps PostgreSQL from hashing the whole set instead.

    PostgreSQL picks a hash when it expects to ask for many rows, and does not count on a
    search's LIMIT stopping the scan early: at a unit with 45,000 Tasks a page of 50 then built
    three hashes of 50,000 rows each (2-3 s) where 101 probes of a few index rows would do.
    SQLite never hashes these, and an OFFSET there only stops it flattening the subquery.
    """
    return exists(select(literal(1)).select_from(source).where(*where).suffix_with("OFFSET 0",
                                                                                     dialect="postgresql"))


def _exists_join(ref: Any, row: Any, on: ColumnElement[bool], *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS over an index row joined to the resource it names (or that holds it)."""
    return _probe(ref.join(row, on), *where)


def _target_row(ref: Any, row: Any) -> ColumnElement[bool]:
    return and_(row.c.res_type == ref.c.target_type, row.c.res_id == ref.c.target_id, row.c.deleted == false())


@dataclass(frozen=True)
class Arm:
    """Units whose cases are visible; only those of `patients` when set (emergency access)."""

    units: tuple[str, ...]
    patients: tuple[str, ...] | None = None


class CaseScope:
    """Conditions for 'belongs to a case at one of these units', by resource type."""

    def __init__(self, arms: Sequence[Arm]) -> None:
        self.arms = tuple(arms)
        self.names = _Names()

    def condition(self, res_type: str, r: FromClause) -> ColumnElement[bool]:
        """Return the condition for a row of `res_type` (built once per arms, type and alias)."""
        return _case_condition(self.arms, res_type, r)

    def build(self, res_type: str, r: FromClause) -> ColumnElement[bool]:
        """Build the condition for a row of `res_type`: a few hundred microseconds, hence the cache."""
        self.names = _Names()
        if not self.arms:
            return false()
        if res_type == "Encounter":
            return self.encounter(r)
        if res_type == "Task":
            return self.task(r)
        if res_type == "Patient":
            return self.patient(r)
        if res_type == "Provenance":
            return self.provenance(r)
        if res_type in PATIENT_LEVEL:
            return self.by_patient(r, res_type)
        if res_type == "Appointment":
            return or_(self.linked(r, res_type), self.appointment(r))
        if res_type in CASE_LINKED:
            return self.linked(r, res_type)
        return false()

    def _roles(self, units: tuple[str, ...]) -> Any:
        i, role = self.names.ref(), self.names.res()
        return select(role.c.res_id).select_from(i.join(role, role.c.rid == i.c.rid)).where(
            i.c.res_type == "PractitionerRole", i.c.param == "organization",
            i.c.target_type == "Organization", i.c.target_id.in_(units))

    def _limit(self, rid: Any, res_type: str, patients: tuple[str, ...] | None) -> list[ColumnElement[bool]]:
        if patients is None:
            return []
        q = self.names.ref()
        return [exists().where(q.c.rid == rid, q.c.res_type == res_type, q.c.param == "patient",
                               q.c.target_type == "Patient", probe_only(q.c.target_id).in_(patients))]

    def _owner_at(self, o: Any, arm: Arm) -> list[ColumnElement[bool]]:
        """Conditions on an `owner` index row `o`: the Task is owned by the arm's unit or one of its roles."""
        target = probe_only(o.c.target_id)
        return [o.c.res_type == "Task", o.c.param == "owner",
                or_(and_(o.c.target_type == "Organization", target.in_(arm.units)),
                    and_(o.c.target_type == "PractitionerRole", target.in_(self._roles(arm.units))))]

    def _served_by(self, s: Any, arm: Arm) -> list[ColumnElement[bool]]:
        """Conditions on a `service-provider` index row `s`: the Encounter is served by the arm's unit."""
        return [s.c.res_type == "Encounter", s.c.param == "service-provider", s.c.target_type == "Organization",
                probe_only(s.c.target_id).in_(arm.units)]

    def owned(self, rid: Any) -> ColumnElement[bool]:
        """A Task (by rid) owned by a unit, or by a PractitionerRole of one."""
        ors = []
        for arm in self.arms:
            o = self.names.ref()
            owner = _probe(o, o.c.rid == rid, *self._owner_at(o, arm))
            ors.append(and_(owner, *self._limit(rid, "Task", arm.patients)))
        return or_(*ors)

    def served(self, r: FromClause) -> ColumnElement[bool]:
        """An Encounter whose serviceProvider is a unit."""
        ors = []
        for arm in self.arms:
            i = self.names.ref()
            served = _probe(i, i.c.rid == r.c.rid, *self._served_by(i, arm))
            ors.append(and_(served, *self._limit(r.c.rid, "Encounter", arm.patients)))
        return or_(*ors)

    def _by_task(self, encounter_id: Any, arm: Arm) -> ColumnElement[bool]:
        """A Task of the arm's unit is about this Encounter (by id): one flat join, hashable per unit."""
        j, o = self.names.ref(), self.names.ref()
        return _exists_join(j, o, o.c.rid == j.c.rid, j.c.res_type == "Task", j.c.param == "encounter",
                            j.c.target_type == "Encounter", j.c.target_id == encounter_id, *self._owner_at(o, arm),
                            *self._limit(j.c.rid, "Task", arm.patients))

    def encounter(self, r: FromClause) -> ColumnElement[bool]:
        """An Encounter served by a unit, or that a unit's Task is about (a case transferred to it)."""
        return or_(self.served(r), *(self._by_task(r.c.res_id, arm) for arm in self.arms))

    def _via_encounter(self, r: FromClause, res_type: str) -> ColumnElement[bool]:
        """The row's `encounter` is a live Encounter of a unit's case.

        Split by arm and by why the Encounter is the unit's (served, or a unit's Task is about
        it), each a flat join from the row's reference to the unit's own index rows, so the
        planner can start from either end.
        """
        ors = []
        for arm in self.arms:
            g, e, s = self.names.ref(), self.names.res(), self.names.ref()
            ref = [g.c.rid == r.c.rid, g.c.res_type == res_type, g.c.param == "encounter",
                   g.c.target_type == "Encounter"]
            ors.append(_probe(g.join(e, _target_row(g, e)).join(s, s.c.rid == e.c.rid),
                              *ref, *self._served_by(s, arm), *self._limit(e.c.rid, "Encounter", arm.patients)))
            g, e = self.names.ref(), self.names.res()
            j, o = self.names.ref(), self.names.ref()
            ref = [g.c.rid == r.c.rid, g.c.res_type == res_type, g.c.param == "encounter",
                   g.c.target_type == "Encounter"]
            ors.append(_probe(g.join(e, _target_row(g, e)).join(j, j.c.target_id == e.c.res_id).join(o, o.c.rid == j.c.rid),
                              *ref, j.c.res_type == "Task", j.c.param == "encounter", j.c.target_type == "Encounter",
                              *self._owner_at(o, arm), *self._limit(j.c.rid, "Task", arm.patients)))
        return or_(*ors)

    def task(self, r: FromClause) -> ColumnElement[bool]:
        """A Task owned at a unit, or part of an Encounter of a unit's case."""
        return or_(self.owned(r.c.rid), self._via_encounter(r, "Task"))

    def linked(self, r: FromClause, res_type: str) -> ColumnElement[bool]:
        """A resource of a case: its `encounter` is one, or a Task the unit owns has it as `focus`."""
        via_encounter = self._via_encounter(r, res_type)
        # The focus of a Task the unit owns (a transferred case's answers); a Task seen only
        # through its Encounter brings nothing the Encounter's own links do not.
        ors = [via_encounter]
        for arm in self.arms:
            f, o = self.names.ref(), self.names.ref()
            ors.append(_exists_join(f, o, o.c.rid == f.c.rid, f.c.res_type == "Task", f.c.param == "focus",
                                    f.c.target_type == res_type, f.c.target_id == r.c.res_id,
                                    *self._owner_at(o, arm), *self._limit(f.c.rid, "Task", arm.patients)))
        return or_(*ors)

    def patient(self, r: FromClause) -> ColumnElement[bool]:
        """A Patient with a case at a unit: an Encounter of theirs it serves, or a Task for them it owns.

        Narrower to write than `encounter`/`task` but the same set, as a case's Task is `for` the
        Encounter's subject: a transferred case is the new unit's by its Task, the old one's by
        its Encounter. Patient conditions sit inside every patient-level one, so size matters.
        """
        ors = []
        for arm in self.arms:
            p, s = self.names.ref(), self.names.ref()
            ors.append(_exists_join(
                p, s, s.c.rid == p.c.rid, p.c.target_type == "Patient", p.c.target_id == r.c.res_id,
                p.c.res_type == "Encounter", p.c.param == "patient", *self._served_by(s, arm),
                *self._limit(p.c.rid, "Encounter", arm.patients)))
            q, o = self.names.ref(), self.names.ref()
            ors.append(_exists_join(
                q, o, o.c.rid == q.c.rid, q.c.target_type == "Patient", q.c.target_id == r.c.res_id,
                q.c.res_type == "Task", q.c.param == "patient", *self._owner_at(o, arm),
                *self._limit(q.c.rid, "Task", arm.patients)))
        return or_(*ors)

    def by_patient(self, r: FromClause, res_type: str) -> ColumnElement[bool]:
        """A patient-level resource (RelatedPerson, Consent) of a Patient with a case at a unit."""
        g, pt = self.names.ref(), self.names.res()
        return _exists_join(g, pt, _target_row(g, pt), g.c.rid == r.c.rid, g.c.res_type == res_type,
                            g.c.param == "patient", g.c.target_type == "Patient", self.patient(pt))

    def provenance(self, r: FromClause) -> ColumnElement[bool]:
        """A Provenance whose target is a case's Encounter or Task (a transfer, say)."""
        g, x = self.names.ref(), self.names.res()
        return _exists_join(
            g, x, _target_row(g, x), g.c.rid == r.c.rid, g.c.res_type == "Provenance", g.c.param == "target",
            or_(and_(x.c.res_type == "Encounter", self.encounter(x)), and_(x.c.res_type == "Task", self.task(x))))

    def appointment(self, r: FromClause) -> ColumnElement[bool]:
        """An Appointment supporting a case, or with one of a unit's PractitionerRoles taking part."""
        g, x = self.names.ref(), self.names.res()
        supports = _exists_join(
            g, x, _target_row(g, x), g.c.rid == r.c.rid, g.c.res_type == "Appointment",
            g.c.param == "supporting-info",
            or_(and_(x.c.res_type == "Encounter", self.encounter(x)), and_(x.c.res_type == "Task", self.task(x))))
        ors = [supports]
        for arm in self.arms:
            if arm.patients is None:
                a = self.names.ref()
                ors.append(exists().where(a.c.rid == r.c.rid, a.c.res_type == "Appointment", a.c.param == "actor",
                                          a.c.target_type == "PractitionerRole",
                                          probe_only(a.c.target_id).in_(self._roles(arm.units))))
        return or_(*ors)


class Compartment:
    """Conditions for 'in the compartment of one of these Patients' (by Patient id)."""

    def __init__(self, patients: Sequence[str], names: _Names | None = None) -> None:
        self.patients = tuple(patients)
        self.names = names or _Names()

    def condition(self, res_type: str, r: FromClause) -> ColumnElement[bool]:
        """Return the condition for a row of `res_type`."""
        if self.names.n == 0:
            return _compartment_condition(self.patients, res_type, r)
        return self.build(res_type, r)

    def build(self, res_type: str, r: FromClause) -> ColumnElement[bool]:
        """Build the condition for a row of `res_type`."""
        if not self.patients:
            return false()
        if res_type == "Patient":
            return r.c.res_id.in_(self.patients)
        q = self.names.ref()
        direct = exists().where(q.c.rid == r.c.rid, q.c.res_type == res_type,
                                q.c.param.in_(PATIENT_PARAMS.get(res_type, DEFAULT_PATIENT_PARAMS)),
                                q.c.target_type == "Patient", probe_only(q.c.target_id).in_(self.patients))
        if res_type != "Provenance":
            return direct
        g, x = self.names.ref(), self.names.res()
        via_case = _exists_join(g, x, _target_row(g, x), g.c.rid == r.c.rid, g.c.res_type == "Provenance",
                                g.c.param == "target",
                                or_(and_(x.c.res_type == "Encounter", self.build("Encounter", x)),
                                    and_(x.c.res_type == "Task", self.build("Task", x))))
        return or_(direct, via_case)


# Expression trees are immutable and the engine's table aliases are built once, so a condition
# can be shared by every request with the same units (or patients): building one is the
# guard's largest cost per request (~0.5-4 ms). A unit's condition takes ~60 KiB, a citizen's
# ~7 KiB: the caches hold about 30 and 15 MiB at most.
@functools.lru_cache(maxsize=512)
def _case_condition(arms: tuple[Arm, ...], res_type: str, r: FromClause) -> ColumnElement[bool]:
    return CaseScope(arms).build(res_type, r)


@functools.lru_cache(maxsize=2048)
def _compartment_condition(patients: tuple[str, ...], res_type: str, r: FromClause) -> ColumnElement[bool]:
    return Compartment(patients).build(res_type, r)


def provider_log(provider_hsa_id: str, r: FromClause) -> ColumnElement[bool]:
    """AuditEvents of accesses made for a care provider (its HSA-id is one agent's altId)."""
    t = idx_token.alias()
    return exists().where(t.c.rid == r.c.rid, t.c.res_type == "AuditEvent", t.c.param == "altid",
                          probe_only(t.c.code) == provider_hsa_id)


@dataclass
class View:
    """What one caller can see, resolved to resource ids for the length of one request."""

    actor: Actor
    reach: Callable[[str], Reach]
    compartment: tuple[str, ...] = ()
    own: tuple[str, ...] = ()
    cases: CaseScope = field(default_factory=lambda: CaseScope(()))
    writable: CaseScope = field(default_factory=lambda: CaseScope(()))
    provider: str = ""
    region_orgs: tuple[str, ...] = ()
    launch_patient: str | None = None
    readable: Callable[[str], bool] = lambda _t: True
    patient_only: Callable[[str], bool] = lambda _t: False
    emergency_reasons: dict[str, str] = field(default_factory=dict)  # patient id → reason, while granted
    unit_id: str | None = None
    client_id: str = ""  # a regional system's, for what it owns (its Subscriptions)

    def condition(self, res_type: str, r: FromClause, *, writing: bool = False) -> ColumnElement[bool] | None:
        """Return the condition rows of `res_type` must meet, or None when all are visible."""
        kind = self.reach(res_type)
        if kind is Reach.EVERYTHING:
            return None
        if kind is Reach.NOTHING or not self.readable(res_type):
            return false()
        if kind is Reach.COMPARTMENT:
            cond = Compartment(self.compartment).condition(res_type, r)
        elif kind is Reach.OWN_LOG:
            cond = Compartment(self.own).condition(res_type, r)
        elif kind is Reach.CASES:
            cond = (self.writable if writing else self.cases).condition(res_type, r)
        elif kind is Reach.PROVIDER_LOG:
            cond = provider_log(self.provider, r) if self.provider else false()
        elif kind is Reach.OWN_CLIENT:
            cond = owned_by(self.client_id, res_type, r) if self.client_id else false()
        else:  # SECURITY_CONTEXT: Binary has no index to filter by; reads check it one by one
            return false()
        if self.patient_only(res_type):
            # Only `patient/` scopes grant this type: the token's launch patient bounds it too.
            if self.launch_patient:
                cond = and_(cond, Compartment((self.launch_patient,)).condition(res_type, r))
            elif kind is not Reach.COMPARTMENT:
                return false()
        return cond

    def access_filter(self, res_type: str, r: FromClause) -> ColumnElement[bool] | None:
        """The search engine's AccessFilter: the condition for what may be seen."""
        return self.condition(res_type, r)
