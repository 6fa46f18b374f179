"""Create the database engine and keep its schema migrated, for SQLite and PostgreSQL alike.

SQLite runs in WAL mode with writes taking the lock up front (`BEGIN IMMEDIATE`), so two
writers queue instead of failing half-way; reads keep plain deferred transactions.
https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc

from hub.settings import Settings

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(settings: Settings) -> Engine:
    """Return an engine for the configured URL, tuned for the hub's access pattern."""
    url = settings.database_url
    if settings.is_sqlite:
        path = settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=settings.db_pool_size, max_overflow=20,
                               connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    # No ping on checkout (it was a round trip per request): a connection the server closed
    # is told by its socket instead (`_drop_closed_connections`). One lost silently fails its
    # first statement; the FHIR server then runs a read once more and answers a write 503
    # (fhir_api/server.py). Recycling stays under the idle timeouts of proxies in between.
    engine = create_engine(url, pool_size=settings.db_pool_size, max_overflow=10, pool_recycle=1800)
    _drop_closed_connections(engine)
    _no_jit(engine)
    return engine


def _no_jit(engine: Engine) -> None:
    """Turn PostgreSQL's JIT compilation off on each new connection.

    The hub's statements are short index probes whose cost estimates can still pass
    `jit_above_cost` (an access-filtered search of a large unit did), and then compiling
    took ~150 ms of a 7 ms query. Set once per pooled connection, not per request, and as a
    statement rather than a startup option so poolers in between need not know it.
    https://www.postgresql.org/docs/15/jit-decision.html
    """
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()


def _drop_closed_connections(engine: Engine) -> None:
    """Make the pool replace a connection the server has closed, without a round trip.

    An idle connection has nothing to read; when the server ends it (a restart, an idle
    timeout, pg_terminate_backend) it sends a last message and closes, so the socket turns
    readable. Polling it costs a system call; SQLAlchemy retries the checkout on a fresh
    connection when the event raises DisconnectionError.
    https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic-custom
    """
    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if getattr(dbapi_conn, "closed", False):
            raise exc.DisconnectionError("connection already closed")
        fileno = getattr(dbapi_conn, "fileno", None)
        if fileno is None:
            return
        poller = select.poll()
        poller.register(fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        if poller.poll(0):
            raise exc.DisconnectionError("the server closed the connection while it was idle")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def alembic_config(url: str) -> Config:
    """Return the Alembic configuration for the hub's own migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings) -> None:
    """Run every pending migration."""
    command.upgrade(alembic_config(settings.database_url), "head")


def pending_migrations(engine: Engine, settings: Settings) -> tuple[str | None, str | None]:
    """Return (current, head) revisions; they differ when the database needs migrating."""
    script = ScriptDirectory.from_config(alembic_config(settings.database_url))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, script.get_current_head()
