"""Run the outbox inside the API process: the embedded default's dispatcher.

One daemon thread per process claims due messages and delivers them; it sleeps until the
next message falls due, the poll interval passes, or a commit wakes it. Several API processes
may each run one: claims are safe across processes (see store.py). Started and stopped by the
app's lifespan, so nothing runs at import time and tests can run hubs side by side.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from hub.outbox import store
from hub.outbox.dispatcher import Outbox
from hub.outbox.table import utcnow

log = logging.getLogger("ingang.outbox")

PURGE_EVERY = 300.0


class InlineDispatcher:
    """A background thread that keeps delivering due outbox messages until stopped."""

    def __init__(self, outbox: Outbox, *, poll: float = 1.0, batch: int = 20,
                 retention: timedelta | None = None) -> None:
        self.outbox = outbox
        self.poll = poll
        self.batch = batch
        self.retention = retention
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        outbox.on_enqueued(lambda _ids: self._wake.set())

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ingang-outbox", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after the delivery in hand, and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        last_purge = time.monotonic() - PURGE_EVERY  # purge once at start, then now and then
        while not self._stop.is_set():
            delivered = []
            try:
                # Look before claiming: on SQLite a claim takes the database's one write lock.
                due = self._next_due()
                if due is not None and due <= utcnow():
                    delivered = self.outbox.deliver_due(self.batch)
                if self.retention is not None and time.monotonic() - last_purge >= PURGE_EVERY:
                    self.outbox.purge(self.retention)
                    last_purge = time.monotonic()
                due = self._next_due()
            except Exception:  # the database may be briefly away; try again after a pause
                log.exception("outbox dispatcher pass failed")
                due = None
            if len(delivered) >= self.batch:
                continue
            wait = self.poll if due is None else min(self.poll, max(0.01, (due - utcnow()).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()

    def _next_due(self) -> datetime | None:
        with self.outbox.engine.connect() as conn:
            return store.next_due_at(conn, self.outbox.kinds())
