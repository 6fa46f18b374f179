"""Start and stop the real processes the outbox fault tests need: brokers and Celery workers.

Each broker is private to the test session (its own port, data directory and, for RabbitMQ,
its own node), so restarting it affects no one else on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[3]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, open_: bool, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == open_:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not {'open' if open_ else 'close'} port {port} in {timeout:.0f} s")


@dataclass
class RedisBroker:
    """A private redis-server without persistence: a restart loses whatever it held."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL)
        _wait_port(self.port, True, 20, "redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


@dataclass
class RabbitBroker:
    """A private RabbitMQ node; `restart` is `rabbitmqctl stop_app` then `start_app`."""

    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ingang-rabbit-")))

    @property
    def node(self) -> str:
        return f"ingang{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", "-n", self.node, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:  # the server drops to the rabbitmq user, which must own its files
            os.chmod(self.base, 0o755)
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.base)], check=True)
        env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_DIST_PORT": str(self.dist_port),
               "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
               "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
               "RABBITMQ_PID_FILE": str(self.base / "pid")}
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, capture_output=True, timeout=60)
        _wait_port(self.port, True, 90, "rabbitmq-server")

    def stop(self) -> None:
        try:
            self._ctl("stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def restart(self, down_for: float = 0.0) -> None:
        self._ctl("stop_app")
        _wait_port(self.port, False, 30, "rabbitmq stop_app")
        time.sleep(down_for)
        self._ctl("start_app")
        _wait_port(self.port, True, 60, "rabbitmq start_app")


@dataclass
class Worker:
    """An `ingang worker` process group (the Celery main process and its pool)."""

    env: dict[str, str]
    concurrency: int = 2
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", f"--concurrency={self.concurrency}"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **self.env}, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the whole group: no cleanup, no acks, leases left held."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(20)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)
            self.process = None
