"""Run a real hub process for the end-to-end tests: on a migrated SQLite file, then on PostgreSQL.

The hub is started the way an operator starts it (uvicorn with the app factory, settings from
INGANG_* variables) on a free loopback port, and the tests talk to it over HTTP with the FHIR
client libraries regional systems use. PostgreSQL gets a database of its own, migrated with
`ingang db upgrade`; without PostgreSQL those tests skip locally and fail in CI.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.processes import (
    assert_no_tracebacks,
    free_port,
    hub_env,
    migrate,
    scratch_pg_database,
    start_hub,
    stop_process,
)


@dataclass(frozen=True)
class RunningHub:
    """A hub process the tests can reach: where it listens and what it runs on."""

    backend: str
    base_url: str

    @property
    def fhir_base(self) -> str:
        """Return the FHIR base URL, without a trailing slash."""
        return f"{self.base_url}/fhir"


@pytest.fixture(scope="session")
def e2e_pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, migrate it with `ingang db upgrade`, drop it after."""
    with scratch_pg_database("ingang_e2e") as url:
        migrate(url)
        yield url


def database_for(backend: str, request: pytest.FixtureRequest, workdir: Path) -> str:
    """Return a migrated database for a backend: a copy of the SQLite template, or the session's PostgreSQL one."""
    if backend == "sqlite":
        path = workdir / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("e2e_pg_database")
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def running_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """Start `uvicorn hub.app:create_app --factory` over a fresh database; stop it after the tests."""
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    port = free_port()
    log = workdir / "hub.log"
    proc = start_hub(hub_env(database_for(request.param, request, workdir)), port, log)
    try:
        yield RunningHub(request.param, f"http://127.0.0.1:{port}")
    finally:
        stop_process(proc)
    assert_no_tracebacks(log)


@pytest.fixture
def tag() -> str:
    """Return a value unique to this test, to find only what the test made."""
    return uuid.uuid4().hex
