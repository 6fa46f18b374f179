"""Give each search test an empty database built with `metadata.create_all`, on both backends.

PostgreSQL gets a scratch database per session (dropped afterwards); each test empties it.
Without a reachable PostgreSQL the PostgreSQL half is skipped locally and fails under CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError

from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.schema import metadata
from tests.integration.search.helpers import SearchDb

PG_URL = os.environ.get("INGANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def search_pg_url() -> Iterator[str]:
    """Create a scratch PostgreSQL database with the schema, for this session."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"search_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc).splitlines()[0]
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(f"PostgreSQL not available: {reason}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


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
