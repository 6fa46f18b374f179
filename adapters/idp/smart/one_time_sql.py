"""Keep the one-time store in the hub's database, so a code issued by one replica redeems at another.

`take` deletes with a row-count check inside one transaction, so of two replicas redeeming the
same code only one gets it; `claim` relies on the primary key, so a replayed `jti` loses the
insert. The table hangs off the store's shared MetaData for the hub's Alembic migrations.
https://hl7.org/fhir/smart-app-launch/app-launch.html#step-3-app-exchanges-authorization-code-for-access-token
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Index, String, Table, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError

from adapters.idp.smart.one_time import key_hash
from adapters.idp.writing import read_then_write
from fhir_api.store.schema import metadata

one_time_entries = Table(
    "auth_one_time",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("value", Text, nullable=False),
    # Naive UTC, as in the resource store.
    Column("expires_at", DateTime(timezone=False), nullable=False),
    Index(None, "expires_at"),
)


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times given to the one-time store must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


class SqlOneTimeStore:
    """A one-time store over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def put(self, kind: str, key: str, value: Mapping[str, Any], *, expires_at: datetime) -> None:
        """Store a value under a fresh random key until it expires."""
        with self.engine.begin() as conn:
            conn.execute(insert(one_time_entries).values(
                key_hash=key_hash(kind, key), kind=kind, value=json.dumps(dict(value), separators=(",", ":")),
                expires_at=_naive(expires_at)))

    def take(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and delete it, or None if it is unknown, taken or expired."""
        hashed = key_hash(kind, key)
        table = one_time_entries
        with read_then_write(self.engine) as conn:
            row = conn.execute(select(table.c.value, table.c.expires_at).where(table.c.key_hash == hashed)).first()
            if row is None:
                return None
            deleted = conn.execute(delete(table).where(table.c.key_hash == hashed)).rowcount
        if deleted != 1 or row.expires_at <= _naive(now):
            return None
        value: dict[str, Any] = json.loads(row.value)
        return value

    def peek(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and keep it, or None if it is unknown, taken or expired."""
        table = one_time_entries
        with self.engine.connect() as conn:
            row = conn.execute(select(table.c.value).where(table.c.key_hash == key_hash(kind, key),
                                                           table.c.expires_at > _naive(now))).first()
        if row is None:
            return None
        value: dict[str, Any] = json.loads(row.value)
        return value

    def claim(self, kind: str, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record a key as seen until it expires; False if it was already seen and has not expired."""
        hashed = key_hash(kind, key)
        table = one_time_entries
        with self.engine.begin() as conn:
            # An expired claim may be claimed again; clear it first so the insert can succeed.
            conn.execute(delete(table).where(table.c.key_hash == hashed, table.c.expires_at <= _naive(now)))
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(table).values(key_hash=hashed, kind=kind, value="{}",
                                                  expires_at=_naive(expires_at)))
        except IntegrityError:
            return False
        return True

    def purge(self, *, now: datetime) -> int:
        """Delete expired entries; return how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(one_time_entries).where(one_time_entries.c.expires_at <= _naive(now))
                                    ).rowcount)
