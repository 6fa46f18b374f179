"""Keep one waiting-room row per case Task, written in the Task's own transaction, and query it.

The waiting room is ordered by priority, answer-by time and arrival (cases/waiting_room.py).
Answer-by (Task.restriction.period.end) has no R4 search parameter, so the generic search
index cannot order by it; loading every waiting Task to sort them would cost seconds with
100,000 open cases. This table holds exactly the sort key, beside the Task and changed by the
same write listener that checks the case's state machine, so it is never out of step with
the Tasks: a listing is one index range scan, a queue position one count.
https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    SmallInteger,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    tuple_,
)

from cases.lifecycle import WAITING_STATES
from cases.waiting_room import PageKey, QueueRow
from fhir_api.store.schema import metadata

WAITING = tuple(str(s) for s in WAITING_STATES)

case_queue = Table(
    "case_queue",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("state", String(32), nullable=False),
    # True in the waiting states: one value, so a unit's waiting room is one ordered index range
    # (an IN over two states would be two ranges and a sort of the whole queue).
    Column("waiting", Boolean, nullable=False),
    # The Organization id of the unit whose waiting room the case is in (or was claimed at).
    Column("unit_id", String(64), nullable=True),
    Column("competence", String(64), nullable=False, server_default=""),
    Column("priority_rank", SmallInteger, nullable=False),
    # Naive UTC, as the resource store keeps times; "no deadline" is a far-future date, so
    # that both databases sort it last without NULLS LAST.
    Column("answer_by", DateTime(timezone=False), nullable=False),
    Column("waiting_since", DateTime(timezone=False), nullable=False),
    Column("claimed_at", DateTime(timezone=False), nullable=True),
    Column("encounter_id", String(64), nullable=True),
    Column("patient_id", String(64), nullable=True),
    # Named, as the generated names would pass PostgreSQL's 63-character limit.
    Index("ix_case_queue_order", "unit_id", "waiting", "priority_rank", "answer_by", "waiting_since", "task_id"),
    Index("ix_case_queue_competence_order", "unit_id", "competence", "waiting", "priority_rank", "answer_by",
          "waiting_since", "task_id"),
    Index("ix_case_queue_claims", "unit_id", "claimed_at"),
)

_FIELDS = ("task_id", "state", "unit_id", "competence", "priority_rank", "answer_by", "waiting_since",
           "encounter_id", "patient_id", "claimed_at")


def _row(values: Sequence[object]) -> QueueRow:
    return QueueRow(**dict(zip(_FIELDS, values, strict=True)))  # type: ignore[arg-type]


class CaseQueue:
    """Read and write the queue rows on the caller's connection; never commits."""

    def get(self, conn: Connection, task_id: str) -> QueueRow | None:
        """Return the row of one case Task, or None."""
        found = conn.execute(select(*(case_queue.c[f] for f in _FIELDS)).where(case_queue.c.task_id == task_id)).first()
        return _row(found) if found else None

    def put(self, conn: Connection, row: QueueRow) -> None:
        """Write a case's row as it now is (replacing any earlier one)."""
        conn.execute(delete(case_queue).where(case_queue.c.task_id == row.task_id))
        conn.execute(insert(case_queue).values({**{f: getattr(row, f) for f in _FIELDS},
                                                "waiting": row.state in WAITING}))

    def remove(self, conn: Connection, task_id: str) -> None:
        """Forget a case Task's row (the Task was deleted)."""
        conn.execute(delete(case_queue).where(case_queue.c.task_id == task_id))

    def _waiting(self, unit_id: str, competence: str | None) -> list[object]:
        c = case_queue.c
        conds: list[object] = [c.unit_id == unit_id, c.waiting == true()]
        if competence:
            conds.append(c.competence == competence)
        return conds

    def waiting(self, conn: Connection, unit_id: str, competence: str | None, limit: int,
                after: PageKey | None = None) -> list[QueueRow]:
        """Return the first `limit` waiting cases of a unit (and competence), in waiting-room order.

        With `after` (a page key), the cases that come after that place: keyset paging, one
        index range whichever page it is.
        """
        c = case_queue.c
        conds = self._waiting(unit_id, competence)
        if after is not None:
            conds.append(tuple_(c.priority_rank, c.answer_by, c.waiting_since, c.task_id)
                         > tuple_(*(literal(v) for v in after)))
        rows = conn.execute(
            select(*(c[f] for f in _FIELDS)).where(*conds)  # type: ignore[arg-type]
            .order_by(c.priority_rank, c.answer_by, c.waiting_since, c.task_id).limit(limit)).all()
        return [_row(r) for r in rows]

    def count_waiting(self, conn: Connection, unit_id: str, competence: str | None) -> int:
        """Return how many cases wait at a unit (and competence)."""
        return int(conn.execute(select(func.count()).select_from(case_queue).where(
            *self._waiting(unit_id, competence))).scalar_one())  # type: ignore[arg-type]

    def ahead_of(self, conn: Connection, row: QueueRow) -> int:
        """Return how many cases wait before this one in its unit's queue for its competence."""
        c = case_queue.c
        key = (literal(row.priority_rank), literal(row.answer_by), literal(row.waiting_since), literal(row.task_id))
        before = tuple_(c.priority_rank, c.answer_by, c.waiting_since, c.task_id) < tuple_(*key)
        return int(conn.execute(select(func.count()).select_from(case_queue).where(
            *self._waiting(row.unit_id or "", row.competence), before)).scalar_one())  # type: ignore[arg-type]

    def recent_claims(self, conn: Connection, unit_id: str, limit: int = 20) -> list[tuple[datetime, datetime]]:
        """Return (arrived, claimed) of the unit's latest claims, newest first."""
        c = case_queue.c
        rows = conn.execute(select(c.waiting_since, c.claimed_at).where(
            c.unit_id == unit_id, c.claimed_at.is_not(None)).order_by(c.claimed_at.desc()).limit(limit)).all()
        return [(r[0], r[1]) for r in rows]
