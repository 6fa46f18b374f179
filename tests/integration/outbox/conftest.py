"""Real processes for the outbox tests: an HTTP receiver, and helpers to wait on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.05) -> T:
    """Poll until `probe` returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"gave up waiting for {what} (last: {last!r})")


@dataclass
class Receiver:
    """A running receiver process and its URL."""

    url: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    def received(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = httpx.get(f"{self.url}/_received", timeout=5).json()
        return result

    def delivered_keys(self) -> list[str]:
        return [r["key"] for r in self.received() if r["answered"] == 200 and r["key"]]

    def control(self, **values: Any) -> None:
        httpx.post(f"{self.url}/_control", json=values, timeout=5).raise_for_status()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.integration.outbox.receiver", str(self.port)],
                                        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/_received", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the receiver to start", up, timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:  # a held answer keeps a graceful shutdown waiting
                self.process.kill()
                self.process.wait(10)
            self.process = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start a receiver process on a free port; stop it after the test."""
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}", port=port)
    rec.start()
    yield rec
    rec.stop()
