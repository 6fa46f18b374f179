"""Make a scratch PostgreSQL database, run the hub over it in uvicorn workers, and profile it.

Everything here runs on loopback; the database is created for one benchmark run and dropped
after it unless the caller keeps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url

REPO = Path(__file__).resolve().parents[1]
HOOKED_FACTORY = "bench.hooked_app:create_app"
PLAIN_FACTORY = "hub.app:create_app"


def create_database(admin_url: str) -> str:
    """Create an empty database next to `admin_url`'s, migrate it, and return its URL."""
    name = f"ingang_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    run = subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], cwd=REPO, env=hub_env(url),
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise SystemExit(f"ingang db upgrade failed:\n{run.stdout}{run.stderr}")
    return url


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database this module created."""
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def analyze(url: str) -> int:
    """Refresh PostgreSQL's planner statistics and return how many resources are stored."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        count = int(conn.exec_driver_sql("SELECT count(*) FROM resources").scalar_one())
    engine.dispose()
    return count


def hub_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment a hub process runs with: production-like, no demo data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGANG_")}
    env.update({"INGANG_DATABASE_URL": database_url, "INGANG_DEMO_DATA": "false",
                "INGANG_AUTO_MIGRATE": "false", "INGANG_LOG_LEVEL": "warning",
                # Open by default, so the figures are the FHIR layer's; INGANG_ACCESS_CONTROL=true measures it on.
                "INGANG_ACCESS_CONTROL": os.environ.get("INGANG_ACCESS_CONTROL", "false"),
                "PYTHONPATH": str(REPO), **extra})
    return env


@dataclass
class HubProcess:
    """A hub served by uvicorn with `workers` processes on a loopback port."""

    database_url: str
    port: int
    workers: int
    hook: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """Return the hub's root URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        """Start uvicorn and wait until /healthz answers."""
        factory = PLAIN_FACTORY if self.hook == "none" else HOOKED_FACTORY
        command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", str(self.workers), "--no-access-log",
                   "--log-level", "warning"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         env=hub_env(self.database_url, INGANG_BENCH_HOOK=self.hook))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the hub exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    time.sleep(1.0 * self.workers)  # let every worker finish starting
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the hub did not become healthy in {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Stop uvicorn and its workers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def internal_errors(self) -> int:
        """Count the internal errors the hub logged."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.count("internal error")


def start_profiler(hub: HubProcess, seconds: float, out: Path, rate: int = 250) -> subprocess.Popen[bytes]:
    """Sample every uvicorn worker with py-spy for `seconds`, writing collapsed stacks to `out`."""
    assert hub.proc is not None
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--pid", str(hub.proc.pid), "--subprocesses", "--rate", str(rate),
               "--duration", str(int(seconds)), "--format", "raw", "--output", str(out), "--nonblocking", "--gil"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(collapsed: Path, top: int = 25) -> list[tuple[float, float, str]]:
    """Return (inclusive %, self %, function) for the busiest functions in py-spy's raw output.

    The list holds the `top` functions by inclusive time, then any others among the `top`
    by self time, so both where the calls go and where the CPU burns show.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if not _plumbing(f)]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return []
    chosen = [f for f, _ in inclusive.most_common(top)]
    chosen += [f for f, _ in own.most_common(top) if f not in chosen]
    return [(100 * inclusive[f] / total, 100 * own[f] / total, f) for f in chosen]


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    repo = str(Path(__file__).resolve().parent.parent) + "/"
    for marker in ("site-packages/", repo, "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def _plumbing(frame: str) -> bool:
    """Tell frames every request passes through (event loop, threads) from the work itself."""
    return frame.startswith(("process ", " spawn_main")) or any(p in frame for p in (
        "threading.py", "asyncio/", "anyio/", "uvicorn/", "<module>", "multiprocessing/", "concurrent/futures",
        "runpy.py", "spawn_main", "starlette/concurrency.py", "queue.py"))
