"""Record what a unit of work wrote, so others can act on it before and after it commits.

Outbox rows (subscriptions, journal export) must be written in the same transaction as the
change that causes them; live pushes (chat, waiting rooms) must go out only once the change
is committed and visible. The repository notes every version it writes on the connection;
the server hands the list to its listeners at those two moments.
https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

_KEY = "fhir_changes"


@dataclass(frozen=True)
class Change:
    """One version written: created, updated or deleted."""

    res_type: str
    res_id: str
    version: int
    method: str  # create update delete
    content: str | None

    def json(self) -> dict[str, Any]:
        """Return the written resource as a dict ({} for a delete)."""
        return orjson.loads(self.content) if self.content else {}

    @property
    def reference(self) -> str:
        """Return the relative reference `Type/id`."""
        return f"{self.res_type}/{self.res_id}"


# Called inside the transaction, before commit: may write more (on the same connection).
WriteListener = Callable[[Connection, list[Change]], None]
# Called after commit; must not raise (what it does is best effort, like a push).
CommitListener = Callable[[list[Change]], None]


def start(conn: Connection) -> None:
    """Begin recording on a connection (a pooled connection may carry an earlier list)."""
    conn.info[_KEY] = []


def record(conn: Connection, change: Change) -> None:
    """Note a written version on the connection, if it is recording."""
    changes = conn.info.get(_KEY)
    if changes is not None:
        changes.append(change)


def recorded(conn: Connection) -> list[Change]:
    """Return what has been recorded so far on the connection."""
    changes: list[Change] = conn.info.get(_KEY) or []
    return changes


def stop(conn: Connection) -> list[Change]:
    """Stop recording and return the list."""
    changes: list[Change] = conn.info.pop(_KEY, None) or []
    return changes
