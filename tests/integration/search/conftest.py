"""Give each search test an empty database built with `metadata.create_all`, on both backends.

PostgreSQL gets a scratch database per session (dropped afterwards); each test empties it.
Without a reachable PostgreSQL the PostgreSQL half is skipped locally and fails under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event

from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.schema import metadata
from tests.integration.search.helpers import SearchDb
from tests.processes import scratch_pg_database


@pytest.fixture(scope="session")
def search_pg_url() -> Iterator[str]:
    """Create a scratch PostgreSQL database with the schema, for this session."""
    with scratch_pg_database("search_test") as url:
        engine = create_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    metadata.create_all(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchDb]:
    """Return an empty database to search, SQLite first, then PostgreSQL."""
    registry = SearchParamRegistry.load()
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path / "search.db")
    else:
        engine = create_engine(request.getfixturevalue("search_pg_url"))
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    yield SearchDb(engine, registry)
    engine.dispose()
