"""Start and stop the server processes tests talk to: free ports, scratch databases, hubs, tokens.

Why: the end-to-end suites and the test servers' harnesses each need a loopback port, a
PostgreSQL database of their own (or the test Redis), a hub started as an operator starts it (uvicorn with the app
factory, settings from INGANG_* variables) and a person's token from the hub's SMART login.
Written once here, a fix to how a hub is started or stopped reaches every suite.
https://hl7.org/fhir/smart-app-launch/app-launch.html
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError

from adapters.idp.smart import s256
from tests.conftest import IN_CI, PG_URL

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
UVICORN = ["-m", "uvicorn", "hub.app:create_app", "--factory", "--host", "127.0.0.1", "--log-level", "warning"]


def free_port() -> int:
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Terminate a process and wait for it; kill it when it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def tail(log: Path, lines: int = 40) -> str:
    """Return the last lines of a log file, or nothing when it was never written."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database named after prefix, yield its URL, drop it after.

    Without a reachable PostgreSQL the test skips locally and fails in CI.
    """
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc).splitlines()[0]
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(f"PostgreSQL not available: {reason}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def backend_database(backend: str, sqlite_path: Path, pg_prefix: str) -> Iterator[str]:
    """Yield an empty database's URL for a backend: a SQLite file at sqlite_path, or a scratch PostgreSQL one."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_path}"
        return
    with scratch_pg_database(pg_prefix) as url:
        yield url


REDIS_URL = os.environ.get("INGANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    """Skip the test when the test Redis does not answer (fail it in CI, where Redis must run)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {exc}")
        pytest.skip(f"Redis not available: {exc}")


def hub_env(database_url: str, **overrides: str) -> dict[str, str]:
    """Return a hub's environment: this one without INGANG_*, an open API without demo data, then overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGANG_")}
    env.update({
        "INGANG_DATABASE_URL": database_url,
        "INGANG_DEMO_DATA": "false",
        # Suites that test the FHIR layer with FHIR clients; access control has its own suites.
        "INGANG_ACCESS_CONTROL": "false",
        "INGANG_AUTO_MIGRATE": "false",
        "INGANG_LOG_LEVEL": "warning",
        "PYTHONPATH": str(REPO),
        **overrides,
    })
    return env


def migrate(database_url: str) -> None:
    """Migrate a database the way an operator does, with `ingang db upgrade`."""
    done = subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], cwd=REPO, env=hub_env(database_url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"ingang db upgrade failed:\n{done.stdout}\n{done.stderr}"


def start_hub(env: dict[str, str], port: int, log: Path, timeout: float = START_TIMEOUT_S) -> subprocess.Popen[bytes]:
    """Start `uvicorn hub.app:create_app --factory` on a port and wait until /healthz answers.

    A hub whose port was taken in the meantime (a short-lived outgoing connection held it) is
    started again; any other exit fails the test with the end of the log.
    """
    base_url = f"http://127.0.0.1:{port}"
    for _attempt in range(3):
        with log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, *UVICORN, "--port", str(port)], cwd=REPO, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        if proc.poll() is None or "already in use" not in log.read_text(errors="replace"):
            break
        time.sleep(1.0)
    exited = proc.poll()
    stop_process(proc)
    if exited is not None:
        pytest.fail(f"the hub on port {port} exited with {exited} while starting:\n{tail(log)}")
    pytest.fail(f"the hub on port {port} did not answer /healthz within {timeout:.0f} s:\n{tail(log)}")


def assert_no_tracebacks(log: Path) -> None:
    """Fail when a hub logged an unhandled error while the tests ran."""
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, f"the hub logged errors during the tests:\n{tail(log, 80)}"


def _choose(browser: httpx.Client, location: str, choice: str) -> str:
    """On the hub's choice page, press the button whose text is `choice`; return where it leads."""
    page = browser.get(location)
    assert page.status_code == 200, page.text
    keys = {text: key for key, text in re.findall(r"value='(\d+)'[^>]*>([^<]+)</button>", page.text)}
    assert choice in keys, f"{choice!r} is not offered; the page offers {sorted(keys)}"
    chosen = browser.post(location, data={"choice": keys[choice]})
    assert chosen.status_code == 303, chosen.text
    return str(chosen.headers["location"])


def authorization_code_token(base_url: str, client_id: str, principal_claim: dict[str, Any], scope: str,
                             redirect_uri: str, aud: str, choice: str = "Mig själv") -> dict[str, Any]:
    """Log a person in as an app does (authorize with PKCE, the dev login, the code for a token).

    Returns the token response. Each redirect is followed from where the hub sent it, and the
    last must come back to the app's redirect URI with a code. Where the hub asks whom the person
    acts as, `choice` is the button pressed (by default a parent acts for themselves).
    """
    verifier = secrets.token_urlsafe(48)
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30.0) as browser:
        start = browser.get("/auth/authorize", params={
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "aud": aud,
            "state": "s1", "scope": scope, "code_challenge": s256(verifier), "code_challenge_method": "S256"})
        assert start.status_code == 302 and start.headers["location"].startswith(base_url), start.headers
        chosen = browser.get(start.headers["location"], params={"principal": json.dumps(principal_claim)})
        assert chosen.status_code == 302, chosen.text
        location = chosen.headers["location"]
        if not location.startswith(redirect_uri) and not location.endswith("/auth/choose"):
            back = browser.get(location)
            assert back.status_code == 302, back.text
            location = back.headers["location"]
        if location.endswith("/auth/choose"):
            # A parent, or a clinician with several commissions: the hub asks whom they act as.
            location = _choose(browser, location, choice)
        assert location.startswith(redirect_uri), location
        answer = parse_qs(urlsplit(location).query)
        assert "code" in answer, answer
        issued = browser.post("/auth/token", data={"grant_type": "authorization_code", "code": answer["code"][0],
                                                   "code_verifier": verifier, "redirect_uri": redirect_uri,
                                                   "client_id": client_id})
    assert issued.status_code == 200, issued.text
    body: dict[str, Any] = issued.json()
    return body
