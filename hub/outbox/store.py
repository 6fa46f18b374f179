"""Write, claim and settle outbox rows with plain SQL that SQLite and PostgreSQL both run.

`enqueue` runs on the caller's connection and never commits. The dispatcher's functions each
run in a short transaction of their own: claiming marks rows `delivering` with a lease and a
claim token (PostgreSQL skips rows another worker has locked; SQLite has one writer at a time),
and settling a row only counts when its claim token still matches, so a worker whose lease ran
out cannot overwrite what the worker that took over recorded.
https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.outbox.messages import OutboxMessage
from hub.outbox.table import DEAD, DELIVERED, DELIVERING, QUEUED, naive_utc, outbox_messages, utcnow

# Ids written by the current context (request, task), for a wake-up once its transaction commits.
# A tuple, replaced on each write, so a copied context never shares the list it came with.
_written: ContextVar[tuple[int, ...]] = ContextVar("outbox_written", default=())
_c = outbox_messages.c


def enqueue(conn: Connection, *, kind: str, key: str, payload: Mapping[str, Any],
            not_before: datetime | None = None) -> bool:
    """Write a message in the caller's transaction; False if (kind, key) is already there."""
    if not kind or not key:
        raise ValueError("an outbox message needs a kind and a key")
    now = utcnow()
    values = {
        "kind": kind, "key": key[:255], "payload": orjson.dumps(dict(payload)).decode(), "status": QUEUED,
        "attempts": 0, "next_attempt_at": naive_utc(not_before) if not_before else now,
        "created_at": now, "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(outbox_messages).values(**values)
            .on_conflict_do_nothing(index_elements=["kind", "key"]).returning(_c.id))
    new_id = conn.execute(stmt).scalar_one_or_none()
    if new_id is None:
        return False
    _written.set((*_written.get(), int(new_id)))
    return True


def take_written() -> list[int]:
    """Return and forget the ids this context wrote; call after commit, to wake a dispatcher.

    After a rollback the list may name rows that do not exist: a dispatcher told about them
    finds nothing to claim, which is harmless.
    """
    ids = list(_written.get())
    _written.set(())
    return ids


def _due(now: datetime) -> Any:
    return and_(_c.status.in_((QUEUED, DELIVERING)), _c.next_attempt_at <= now)


def _message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(id=int(row.id), kind=row.kind, key=row.key, payload=orjson.loads(row.payload),
                         attempts=int(row.attempts), created_at=row.created_at)


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds until `lease_until`, with the token that proves it."""

    message: OutboxMessage
    claim: str


def _claim_columns(now: datetime, lease: timedelta, claim: str) -> dict[str, Any]:
    return {"status": DELIVERING, "attempts": _c.attempts + 1, "next_attempt_at": now + lease,
            "claim": claim, "updated_at": now}


def claim_due(conn: Connection, *, limit: int, lease: timedelta, kinds: Sequence[str] | None = None,
              overdue_by: timedelta = timedelta(0), now: datetime | None = None) -> list[Claimed]:
    """Claim up to `limit` messages due since `overdue_by` ago, oldest first, in a transaction of its own."""
    now = now or utcnow()
    query = select(_c.id).where(_due(now - overdue_by)).order_by(_c.next_attempt_at, _c.id).limit(limit)
    if kinds is not None:
        query = query.where(_c.kind.in_(list(kinds)))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in conn.execute(query).scalars()]
    if not ids:
        return []
    claim = secrets.token_hex(8)
    rows = conn.execute(
        update(outbox_messages).where(_c.id.in_(ids), _due(now))
        .values(**_claim_columns(now, lease, claim)).returning(*outbox_messages.c)
    ).all()
    return sorted((Claimed(_message(r), claim) for r in rows), key=lambda c: c.message.id)


def claim_one(conn: Connection, message_id: int, *, lease: timedelta,
              now: datetime | None = None) -> Claimed | None:
    """Claim one message by id if it is due; None if it is delivered, dead, leased or later."""
    now = now or utcnow()
    claim = secrets.token_hex(8)
    row = conn.execute(
        update(outbox_messages).where(_c.id == message_id, _due(now))
        .values(**_claim_columns(now, lease, claim)).returning(*outbox_messages.c)
    ).first()
    return Claimed(_message(row), claim) if row is not None else None


def record_delivered(conn: Connection, claimed: Claimed, receipt: str | None,
                     now: datetime | None = None) -> bool:
    """Mark a claimed message delivered with its receipt.

    A success counts even if the lease ran out meanwhile (the message did arrive), unless
    another worker has already recorded one.
    """
    now = now or utcnow()
    result = conn.execute(
        update(outbox_messages)
        .where(_c.id == claimed.message.id, _c.status.in_((QUEUED, DELIVERING)))
        .values(status=DELIVERED, receipt=(receipt or "")[:255] or None, last_error=None,
                delivered_at=now, updated_at=now, claim=None)
    )
    return result.rowcount == 1


def record_failure(conn: Connection, claimed: Claimed, error: str, *, retry_at: datetime | None,
                   now: datetime | None = None) -> bool:
    """Put a claimed message back in the queue until `retry_at`, or to dead when None."""
    now = now or utcnow()
    values: dict[str, Any] = {"last_error": error[:2000], "updated_at": now, "claim": None}
    if retry_at is None:
        values["status"] = DEAD
    else:
        values.update(status=QUEUED, next_attempt_at=retry_at)
    result = conn.execute(
        update(outbox_messages)
        .where(_c.id == claimed.message.id, _c.status == DELIVERING, _c.claim == claimed.claim)
        .values(**values)
    )
    return result.rowcount == 1


def stale_ids(conn: Connection, *, older_than: datetime, limit: int = 500) -> list[int]:
    """Return ids that have been due since before `older_than`: their wake-up was lost."""
    rows = conn.execute(select(_c.id).where(_due(older_than)).order_by(_c.next_attempt_at).limit(limit))
    return [int(i) for i in rows.scalars()]


def next_due_at(conn: Connection, kinds: Sequence[str] | None = None) -> datetime | None:
    """Return when the earliest queued or leased message (of these kinds) falls due."""
    query = select(func.min(_c.next_attempt_at)).where(_c.status.in_((QUEUED, DELIVERING)))
    if kinds is not None:
        query = query.where(_c.kind.in_(list(kinds)))
    value: datetime | None = conn.execute(query).scalar()
    return value


def requeue(conn: Connection, message_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Queue messages again now, with a fresh attempt count (staff replay, Subscription $replay)."""
    if not message_ids:
        return 0
    now = now or utcnow()
    result = conn.execute(
        update(outbox_messages).where(_c.id.in_(list(message_ids)), _c.status != DELIVERING)
        .values(status=QUEUED, attempts=0, next_attempt_at=now, last_error=None, receipt=None,
                delivered_at=None, claim=None, updated_at=now)
    )
    _written.set((*_written.get(), *(int(i) for i in message_ids)))
    return int(result.rowcount)


def purge_delivered(conn: Connection, *, before: datetime) -> int:
    """Delete delivered messages older than the retention period."""
    result = conn.execute(
        outbox_messages.delete().where(_c.status == DELIVERED, _c.delivered_at < before)
    )
    return int(result.rowcount)


def find(conn: Connection, *, status: str | None = None, kind: str | None = None,
         key_prefix: str | None = None, since: datetime | None = None, after_id: int = 0,
         limit: int = 100) -> list[Row[Any]]:
    """List messages by status, kind, key prefix and creation time, in id order."""
    query = select(outbox_messages).where(_c.id > after_id).order_by(_c.id).limit(limit)
    if status is not None:
        query = query.where(_c.status == status)
    if kind is not None:
        query = query.where(_c.kind == kind)
    if key_prefix is not None:
        escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(_c.key.like(escaped + "%", escape="\\"))
    if since is not None:
        query = query.where(_c.created_at >= naive_utc(since))
    return list(conn.execute(query).all())


def existing_keys(conn: Connection, kind: str, keys: Sequence[str]) -> set[str]:
    """Return which of these keys have a message of this kind."""
    if not keys:
        return set()
    rows = conn.execute(select(_c.key).where(_c.kind == kind, _c.key.in_(list(keys))))
    return {str(k) for k in rows.scalars()}


def get(conn: Connection, message_id: int) -> Row[Any] | None:
    """Return one message row."""
    return conn.execute(select(outbox_messages).where(_c.id == message_id)).first()


@dataclass(frozen=True)
class Counts:
    """The outbox's state for the metrics endpoint."""

    by_status: dict[str, int]
    failed: int
    oldest_queued_age: float


def counts(conn: Connection, *, now: datetime | None = None) -> Counts:
    """Count messages by status, those that failed at least once, and the oldest waiting one's age."""
    now = now or utcnow()
    by_status = {s: 0 for s in (QUEUED, DELIVERING, DELIVERED, DEAD)}
    for status, n in conn.execute(select(_c.status, func.count()).group_by(_c.status)):
        by_status[status] = int(n)
    failed = int(conn.execute(select(func.count()).where(
        or_(and_(_c.status == QUEUED, _c.last_error.is_not(None)), _c.status == DEAD))).scalar() or 0)
    oldest = conn.execute(select(func.min(_c.created_at)).where(
        _c.status.in_((QUEUED, DELIVERING)))).scalar()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Counts(by_status, failed, age)
