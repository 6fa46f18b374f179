"""Resolve a caller to what they can see: Patient ids, care-unit ids, grants, once per request.

Principals name people and units by personnummer and HSA-id; the store links resources by
logical id. This module makes the few lookups that translate one into the other — a handful
of index seeks per request — and builds the caller's `View`. The population register is
asked on every request (no cache), because custody can end between two requests and a
guardian must not see a child's data one request longer than the register allows.
https://hl7.org/fhir/R4/references.html
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, and_, bindparam, false, select

from cases.access import Reach, person_of, persons_in_reach, reach
from cases.principals import (
    HSA_SYSTEM,
    PERSONNUMMER_SYSTEM,
    SAMORDNINGSNUMMER_SYSTEM,
    Citizen,
    Clinician,
    Guardian,
    RegionalSystem,
)
from fhir_api.store.schema import idx_reference, idx_token, resources
from hub.access.caller import Caller
from hub.access.grants import GrantStore
from hub.access.settings import AccessSettings
from hub.access.visibility import Arm, CaseScope, View

RIVTA_HSA_SYSTEM = "urn:oid:1.2.752.129.2.1.4.1"
MAX_UNIT_DEPTH = 4  # region → administration → clinic → unit is as deep as Swedish care goes


class CustodyRegister(Protocol):
    """Who has custody of whom (adapters.idp.dev.PopulationRegister fits)."""

    def guardians_of(self, child: str) -> Sequence[str]:
        """Return the guardians of a child."""
        ...

    def children_of(self, guardian: str) -> Sequence[str]:
        """Return the children a person has custody of."""
        ...


def org_id(conn: Connection, identifier: str, systems: Sequence[str] | None = (HSA_SYSTEM, RIVTA_HSA_SYSTEM),
           ) -> str | None:
    """Return the id of the live Organization with this identifier value (HSA-id), or None."""
    t = idx_token
    conds = [t.c.res_type == "Organization", t.c.param == "identifier", t.c.code == identifier]
    if systems is not None:
        conds.append(t.c.system.in_(systems))
    row = conn.execute(select(resources.c.res_id).join(t, t.c.rid == resources.c.rid)
                       .where(*conds, resources.c.deleted == false()).limit(1)).first()
    return row[0] if row else None


def units_under(conn: Connection, parent_id: str) -> tuple[str, ...]:
    """Return the ids of the Organizations `partOf` this one, at any depth up to MAX_UNIT_DEPTH."""
    found: list[str] = []
    frontier = [parent_id]
    i = idx_reference
    for _ in range(MAX_UNIT_DEPTH):
        rows = conn.execute(select(resources.c.res_id).join(i, i.c.rid == resources.c.rid).where(
            i.c.res_type == "Organization", i.c.param == "partof", i.c.target_type == "Organization",
            i.c.target_id.in_(frontier))).all()
        frontier = [r[0] for r in rows if r[0] not in found and r[0] != parent_id]
        if not frontier:
            break
        found.extend(frontier)
    return tuple(found)


def patient_ids(conn: Connection, persons: Sequence[str]) -> tuple[str, ...]:
    """Return the ids of the Patients identified by these personnummer or samordningsnummer."""
    if not persons:
        return ()
    t = idx_token
    rows = conn.execute(select(resources.c.res_id).join(t, t.c.rid == resources.c.rid).where(
        t.c.res_type == "Patient", t.c.param == "identifier", t.c.code.in_(sorted(persons)),
        t.c.system.in_((PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM)))).all()
    return tuple(sorted({r[0] for r in rows}))


class DirectoryCache:
    """Remember which Organization ids HSA-ids name and which units lie below them, for a minute.

    Units and their ids change seldom, and a stale answer can only keep showing a unit's own
    cases for up to `ttl` seconds or add a unit's new cases late; only answers that found
    something are kept, so a new unit is seen at once. Custody and grants are never cached.
    """

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def _get(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (now + self.ttl, value)
        return value

    def org(self, conn: Connection, identifier: str, any_system: bool = False) -> str | None:
        """Return the id of the Organization with this HSA-id (or any identifier value)."""
        systems = None if any_system else (HSA_SYSTEM, RIVTA_HSA_SYSTEM)
        found: str | None = self._get(("org", identifier, any_system), lambda: org_id(conn, identifier, systems))
        return found

    def units(self, conn: Connection, parent_id: str) -> tuple[str, ...]:
        """Return the ids of the Organizations below this one."""
        found: tuple[str, ...] = self._get(("units", parent_id), lambda: units_under(conn, parent_id))
        return found


def confirmed_children(register: CustodyRegister, guardian: str) -> list[str]:
    """Return the children the register confirms in both directions, as `act_for_child` does."""
    return [c for c in register.children_of(guardian) if guardian in register.guardians_of(c)]


def build_view(conn: Connection, caller: Caller, settings: AccessSettings, register: CustodyRegister,
               grants: GrantStore, now: datetime, directory: DirectoryCache | None = None) -> View:
    """Look up everything the caller's access depends on and return their View."""
    actor = caller.principal
    directory = directory or DirectoryCache(ttl=0)
    view = View(actor=actor, reach=functools.partial(reach, actor, log_review_right=settings.log_review_right),
                readable=caller.may_read, patient_only=caller.only_patient_context,
                launch_patient=caller.launch_patient)
    if isinstance(actor, (Citizen, Guardian)):
        citizen: Citizen = person_of(actor)
        persons = persons_in_reach(actor, confirmed_children(register, citizen.person_id), now.date(),
                                   settings.custody)
        view.compartment = patient_ids(conn, sorted(persons))
        view.own = patient_ids(conn, [citizen.person_id])
    elif isinstance(actor, Clinician):
        commission = actor.commission
        unit = directory.org(conn, commission.care_unit_hsa_id)
        view.unit_id = unit
        normal = Arm((unit,) if unit else ())
        view.writable = CaseScope([normal])
        arms = [normal]
        active = grants.active(conn, employee=actor.employee_hsa_id, commission=commission.commission_hsa_id,
                               provider=commission.care_provider_hsa_id, now=now)
        if active and commission.for_care:
            for g in reversed(active):  # newest last, so the latest reason for a patient wins
                view.emergency_reasons[g.patient_id] = g.reason
            provider = directory.org(conn, commission.care_provider_hsa_id)
            units = directory.units(conn, provider) if provider else ()
            arms.append(Arm(units, tuple(sorted(view.emergency_reasons))))
        view.cases = CaseScope(arms)
        view.provider = commission.care_provider_hsa_id
    elif isinstance(actor, RegionalSystem):
        region_id = directory.org(conn, actor.region, any_system=True)
        units = directory.units(conn, region_id) if region_id else ()
        view.cases = view.writable = CaseScope([Arm(units)])
        view.region_orgs = (region_id,) if region_id else ()
        view.client_id = actor.client_id
    return view


def provider_units(conn: Connection, provider_hsa_id: str) -> tuple[str, ...]:
    """Return the ids of a care provider's units (the Organizations below it)."""
    provider = org_id(conn, provider_hsa_id)
    return units_under(conn, provider) if provider else ()


@functools.cache
def _row_alias() -> Any:
    return resources.alias("access_row")


@functools.lru_cache(maxsize=1024)
def _row_statement(res_type: str, cond: ColumnElement[bool] | None) -> Any:
    """One statement per type and (shared, cached) condition, so SQLAlchemy keys and compiles it once."""
    r = _row_alias()
    where = [r.c.res_type == res_type, r.c.res_id == bindparam("res_id"), r.c.deleted == false()]
    if cond is not None:
        where.append(cond)
    return select(r.c.rid).where(and_(*where)).limit(1)


def row_visible(conn: Connection, view: View, res_type: str, res_id: str, *, writing: bool = False) -> bool:
    """Tell whether the live resource `res_type/res_id` exists and the view lets the caller see it."""
    cond = view.condition(res_type, _row_alias(), writing=writing)
    return conn.execute(_row_statement(res_type, cond), {"res_id": res_id}).first() is not None


def is_everything(view: View, res_type: str) -> bool:
    """Tell whether every row of the type is visible to the caller."""
    return view.reach(res_type) is Reach.EVERYTHING
