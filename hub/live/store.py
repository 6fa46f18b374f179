"""Look up what the live layer needs from the store: parties, version keys, the replay, chat state.

The parties of an encounter are its subject Patient and the clinician who has claimed it: the
in-progress Task of the encounter is owned by a PractitionerRole whose Practitioner carries the
clinician's HSA-id. The replay reads Communication versions from `resource_versions`, whose
key (`vid`) only grows, so "everything after the last `seq` seen" is one indexed range.
https://hl7.org/fhir/R4/task.html, https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select

from cases.principals import HSA_SYSTEM
from communication.chat import CHAT_ENDED, CHAT_EVENT_SYSTEM, CHAT_OPENED, chat_event_code
from fhir_api.server import FhirServer
from fhir_api.store.schema import idx_reference, resource_versions, resources

ROLE_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class Claim:
    """Who holds a case now: the in-progress Task and the PractitionerRole that owns it."""

    task_id: str
    role_id: str


@dataclass(frozen=True)
class Version:
    """One stored version of a Communication, for the replay."""

    seq: int
    res_id: str
    method: str
    resource: dict[str, Any]


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, dict) else None
    prefix = f"{res_type}/"
    return ref[len(prefix):] if isinstance(ref, str) and ref.startswith(prefix) else None


class LiveStore:
    """The live layer's reads, over the FHIR server's repository and index."""

    def __init__(self, server: FhirServer) -> None:
        self.server = server
        self._role_units: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def read(self, conn: Connection, res_type: str, res_id: str) -> dict[str, Any] | None:
        """Return a live resource as a dict, or None."""
        stored = self.server.repo.read(conn, res_type, res_id)
        return stored.json() if stored is not None and not stored.deleted else None

    def claim(self, conn: Connection, encounter_id: str) -> Claim | None:
        """Return the in-progress Task of the encounter that a PractitionerRole owns, if any."""
        ids = self.server.matcher.ids(conn, "Task", [("encounter", f"Encounter/{encounter_id}"),
                                                      ("status", "in-progress")])
        for task_id in sorted(ids):
            task = self.read(conn, "Task", task_id) or {}
            role = _ref_id(task.get("owner"), "PractitionerRole")
            if role:
                return Claim(task_id, role)
        return None

    def role_practitioner_hsa(self, conn: Connection, role_id: str) -> set[str]:
        """Return the HSA-ids of the Practitioner a PractitionerRole is for."""
        role = self.read(conn, "PractitionerRole", role_id) or {}
        practitioner_id = _ref_id(role.get("practitioner"), "Practitioner")
        practitioner = self.read(conn, "Practitioner", practitioner_id) if practitioner_id else None
        return {str(i.get("value")) for i in (practitioner or {}).get("identifier") or []
                if i.get("system") == HSA_SYSTEM and i.get("value")}

    def unit_of_role(self, conn: Connection, role_id: str) -> str | None:
        """Return the Organization id of a PractitionerRole, cached briefly (roles seldom move)."""
        now = time.monotonic()
        with self._lock:
            hit = self._role_units.get(role_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        role = self.read(conn, "PractitionerRole", role_id) or {}
        unit = _ref_id(role.get("organization"), "Organization")
        with self._lock:
            if len(self._role_units) > 10_000:
                self._role_units.clear()
            self._role_units[role_id] = (now + ROLE_CACHE_SECONDS, unit)
        return unit

    def unit_of_owner(self, conn: Connection, owner: str) -> str | None:
        """Return the unit a Task owner reference points at: the Organization, or the role's."""
        if owner.startswith("Organization/"):
            return owner.removeprefix("Organization/")
        if owner.startswith("PractitionerRole/"):
            return self.unit_of_role(conn, owner.removeprefix("PractitionerRole/"))
        return None

    def previous(self, conn: Connection, res_type: str, res_id: str, version: int) -> dict[str, Any]:
        """Return the version before this one, or {} for a first version."""
        if version <= 1:
            return {}
        stored = self.server.repo.vread(conn, res_type, res_id, version - 1)
        return stored.json() if stored is not None and stored.content else {}

    def version_keys(self, conn: Connection, res_type: str, wanted: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Return the version key (`vid`) of each (res_id, version)."""
        if not wanted:
            return {}
        v = resource_versions
        conds = [and_(v.c.res_id == res_id, v.c.version_id == version) for res_id, version in wanted]
        rows = conn.execute(select(v.c.res_id, v.c.version_id, v.c.vid).where(v.c.res_type == res_type, or_(*conds)))
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def replay(self, conn: Connection, encounter_id: str, since: int) -> list[Version]:
        """Return every Communication version of the encounter written after `since`, oldest first."""
        v, i = resource_versions, idx_reference
        linked = select(i.c.rid).where(i.c.res_type == "Communication", i.c.param == "encounter",
                                       i.c.target_type == "Encounter", i.c.target_id == encounter_id)
        rows = conn.execute(select(v.c.vid, v.c.res_id, v.c.method, v.c.content).where(
            v.c.res_type == "Communication", v.c.vid > since, v.c.rid.in_(linked)).order_by(v.c.vid)).all()
        return [Version(int(r[0]), r[1], r[2], orjson.loads(r[3])) for r in rows if r[3]]

    def last_seq(self, conn: Connection) -> int:
        """Return the newest version key of any Communication (0 when there is none)."""
        v = resource_versions
        row = conn.execute(select(v.c.vid).where(v.c.res_type == "Communication").order_by(v.c.vid.desc())
                           .limit(1)).first()
        return int(row[0]) if row else 0

    def chat_events(self, conn: Connection, encounter_id: str) -> list[str]:
        """Return the encounter's chat events (ended, opened) in the order they were written."""
        both = f"{CHAT_EVENT_SYSTEM}|{CHAT_ENDED},{CHAT_EVENT_SYSTEM}|{CHAT_OPENED}"
        found = self.server.matcher.find(conn, "Communication", [("encounter", f"Encounter/{encounter_id}"),
                                                                  ("category", both)])
        codes = []
        for _rid, res_id in sorted(found):
            code = chat_event_code(self.read(conn, "Communication", res_id) or {})
            if code:
                codes.append(code)
        return codes

    def lock_encounter(self, conn: Connection, encounter_id: str) -> None:
        """Hold the encounter's row until commit, so one encounter's messages commit in key order."""
        r = resources
        conn.execute(select(r.c.rid).where(r.c.res_type == "Encounter", r.c.res_id == encounter_id)
                     .with_for_update())
