"""Declare the outbox table: messages that a committed change owes the outside world.

A row is written in the same transaction as the change that causes it, so a message exists
exactly when its change does. The dispatcher moves it queued → delivering → delivered, or back
to queued with a later `next_attempt_at` after a failure, or to dead after too many. While a
row is `delivering`, `next_attempt_at` is the end of the worker's lease: a worker that dies
leaves the row due again once the lease runs out. The table hangs off the store's MetaData so
the hub's Alembic migrations create it.
https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

from fhir_api.store.schema import Key, metadata

QUEUED = "queued"
DELIVERING = "delivering"
DELIVERED = "delivered"
DEAD = "dead"
STATUSES = (QUEUED, DELIVERING, DELIVERED, DEAD)

outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", Key, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    # The idempotency key: unique per kind, and passed on to the receiver so it can dedupe.
    Column("key", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # Naive UTC, as in the resource store, so both databases compare them the same way.
    Column("next_attempt_at", DateTime(timezone=False), nullable=False),
    # Set on each claim; a late result from a worker whose lease was taken over is ignored.
    Column("claim", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("receipt", String(255), nullable=True),
    Column("created_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
    Column("delivered_at", DateTime(timezone=False), nullable=True),
    UniqueConstraint("kind", "key"),
    # The dispatcher's query: due rows of a status, oldest first.
    Index(None, "status", "next_attempt_at"),
    Index(None, "created_at"),
)


def utcnow() -> datetime:
    """Return the current time as the naive UTC the table keeps."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """Return an aware time as naive UTC; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
