"""Give every test suite a migrated database on SQLite and on PostgreSQL, and a hub over it.

PostgreSQL tests use a database of their own, made for the session and dropped after it.
Locally they are skipped when no PostgreSQL answers; in CI (CI=true) that is a failure,
because the suite must prove the hub on the database regions run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError

from hub.settings import Settings

# Property tests judge behaviour, not speed: on a busy machine Hypothesis's timing checks
# would fail correct code. Speed lives in bench/.
hypothesis_settings.register_profile("ingang", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("ingang")

PG_URL = os.environ.get("INGANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgresql"]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """Create a fresh, migrated PostgreSQL database for this test session."""
    from hub import database

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"ingang_test_{uuid.uuid4().hex[:10]}"
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        _unavailable(str(exc).splitlines()[0])
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    database.upgrade(Settings(database_url=url))
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file that each test copies, so no test pays for migrations."""
    from hub import database

    path = tmp_path_factory.mktemp("template") / "hub.db"
    database.upgrade(Settings(database_url=f"sqlite:///{path}"))
    return path


def _truncate(url: str) -> None:
    from fhir_api.store.schema import metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate(url)
    return url


def hub_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test hub of the FHIR layer itself: open, no demo data, no migration at start."""
    values: dict[str, object] = {"database_url": database_url, "demo_data": False, "auto_migrate": False,
                                 "access_control": False}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
