"""Rebuild the waiting-room rows (case_queue) from the stored case Tasks: `ingang cases rebuild-queue`.

The write listener keeps one row per case Task in the Task's own transaction, but a case
written around the FHIR server — straight into the store by an import or a repair — has no
row, and so waits in no waiting room. This walks every live Task in id order, in batches of
one transaction each, writes the row each case Task should have and removes rows whose Task
is gone or no longer a case. Running it twice changes nothing the second time: a row that
exists keeps its arrival and first-claim times, and a missing one takes them from the Task
(`authoredOn`, `executionPeriod.start`).
https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, exists, select

from cases.lifecycle import NotACase, State
from cases.waiting_room import QueueRow, parse_instant, queue_row
from fhir_api.store.schema import resources
from hub.case_queue import CaseQueue, case_queue
from hub.case_steps import utc_now

BATCH = 500


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did: case Tasks given their row, rows written anew or changed, rows removed, Tasks skipped."""

    cases: int
    written: int
    removed: int
    skipped: tuple[str, ...]


def _reference_id(value: Any, kind: str) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if isinstance(ref, str) and ref.startswith(f"{kind}/") and ref.count("/") == 1:
        return ref.split("/", 1)[1]
    return None


def _live(conn: Connection, res_type: str, res_id: str) -> dict[str, Any] | None:
    r = resources.c
    content = conn.execute(select(r.content).where(r.res_type == res_type, r.res_id == res_id,
                                                   r.deleted.is_(False))).scalar()
    return orjson.loads(content) if content else None


def fresh_row(conn: Connection, task: Mapping[str, Any], now: datetime) -> QueueRow | None:
    """Return the row of a case Task that has none, taking from the Task what the listener would have kept.

    The first claim is `executionPeriod.start` (set when a clinician claims), not the time of
    the rebuild, so the unit's pace is not invented; a case owned by a clinician is at the
    unit that serves its Encounter.
    """
    row = queue_row(task, None, now)
    if row is None:
        return None
    period = task.get("executionPeriod")
    started = parse_instant(period.get("start")) if isinstance(period, Mapping) else None
    unit = row.unit_id
    if unit is None:
        encounter_id = row.encounter_id
        encounter = _live(conn, "Encounter", encounter_id) if encounter_id else None
        unit = _reference_id((encounter or {}).get("serviceProvider"), "Organization")
    claimed = started if started is not None or row.state != State.IN_PROGRESS else row.claimed_at
    return dataclasses.replace(row, unit_id=unit, claimed_at=claimed)


def rebuild_queue(engine: Engine, queue: CaseQueue | None = None,
                  clock: Callable[[], datetime] = utc_now, batch: int = BATCH) -> RebuildReport:
    """Give every stored case Task its waiting-room row and drop the rows of Tasks that are no cases; idempotent."""
    queue = queue or CaseQueue()
    moment = clock()
    now = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment  # naive UTC, as the rows
    r = resources.c
    after, cases, written, removed = "", 0, 0, 0
    skipped: list[str] = []
    while True:
        with engine.begin() as conn:
            page = conn.execute(select(r.res_id, r.content).where(
                r.res_type == "Task", r.deleted.is_(False), r.res_id > after).order_by(r.res_id).limit(batch)).all()
            for res_id, content in page:
                before = queue.get(conn, res_id)
                try:
                    task = orjson.loads(content) if content else {}
                    row = (queue_row(task, before, now) if before is not None else fresh_row(conn, task, now))
                except NotACase:
                    skipped.append(res_id)  # a case Task in no state of a case: left for a person to mend
                    continue
                if row is None:
                    if before is not None:
                        queue.remove(conn, res_id)
                        removed += 1
                    continue
                cases += 1
                if row != before:
                    queue.put(conn, row)
                    written += 1
        if len(page) < batch:
            break
        after = page[-1][0]
    with engine.begin() as conn:
        q = case_queue.c
        gone = ~exists(select(r.res_id).where(r.res_type == "Task", r.res_id == q.task_id, r.deleted.is_(False)))
        removed += conn.execute(delete(case_queue).where(gone)).rowcount or 0
    return RebuildReport(cases, written, removed, tuple(skipped))
