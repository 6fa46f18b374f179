"""Open a transaction that reads and then writes, taking SQLite's write lock at its start.

Why: SQLite's default transaction takes the write lock only at its first write; when another
connection has written since this one's first read, the upgrade fails at once with "database is
locked", whatever the busy timeout. Two browser tabs refreshing a token together hit exactly
that. `BEGIN IMMEDIATE` (asked for by the `immediate` option, which the hub's SQLite engine
honours and PostgreSQL ignores) makes the second wait for the first instead.
https://www.sqlite.org/lang_transaction.html#deferred_immediate_and_exclusive_transactions
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine


@contextmanager
def read_then_write(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a transaction that holds the write lock from its start (SQLite)."""
    with engine.connect() as conn:
        conn.execution_options(immediate=True)
        with conn.begin():
            yield conn
