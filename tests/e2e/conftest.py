"""Run a real hub process for the end-to-end tests: on a migrated SQLite file, then on PostgreSQL.

The hub is started the way an operator starts it (uvicorn with the app factory, settings from
INGANG_* variables) on a free loopback port, and the tests talk to it over HTTP with the FHIR
client libraries regional systems use. PostgreSQL gets a database of its own, migrated with
`ingang db upgrade`; without PostgreSQL those tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import BACKENDS, IN_CI, PG_URL

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunningHub:
    """A hub process the tests can reach: where it listens and what it runs on."""

    backend: str
    base_url: str

    @property
    def fhir_base(self) -> str:
        """Return the FHIR base URL, without a trailing slash."""
        return f"{self.base_url}/fhir"


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _hub_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGANG_")}
    env.update({
        "INGANG_DATABASE_URL": database_url,
        "INGANG_DEMO_DATA": "false",
        # These tests exercise the FHIR layer with FHIR clients; access control has its own suites.
        "INGANG_ACCESS_CONTROL": "false",
        "INGANG_AUTO_MIGRATE": "false",
        "INGANG_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO),
    })
    return env


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def e2e_pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, migrate it with `ingang db upgrade`, drop it after."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"ingang_e2e_{uuid.uuid4().hex[:10]}"
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
    try:
        migrate = subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], cwd=REPO,
                                 env=_hub_env(url), capture_output=True, text=True, timeout=120)
        assert migrate.returncode == 0, f"ingang db upgrade failed:\n{migrate.stdout}\n{migrate.stderr}"
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _database(backend: str, request: pytest.FixtureRequest, workdir: Path) -> str:
    if backend == "sqlite":
        path = workdir / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("e2e_pg_database")
    return url


def _wait_until_healthy(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the hub exited with {proc.returncode} while starting:\n{_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the hub did not answer /healthz within {START_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session", params=BACKENDS)
def running_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """Start `uvicorn hub.app:create_app --factory` over a fresh database; stop it after the tests."""
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    database_url = _database(request.param, request, workdir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = workdir / "hub.log"
    command = [sys.executable, "-m", "uvicorn", "hub.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=_hub_env(database_url),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(proc, base_url, log)
        yield RunningHub(request.param, base_url)
    finally:
        _stop(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, f"the hub logged errors during the tests:\n{_tail(log, 80)}"


@pytest.fixture
def tag() -> str:
    """Return a value unique to this test, to find only what the test made."""
    return uuid.uuid4().hex
