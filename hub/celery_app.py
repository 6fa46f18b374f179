"""Deliver outbox messages with Celery workers on RabbitMQ or Redis: the production dispatcher.

The API process sends one `deliver(outbox_id)` task per message after its transaction commits;
the task re-reads the row, claims it only if it is still due (so duplicates and stale tasks do
nothing) and delivers it with the handlers `build_hub` registered. A failed attempt sends the
task again with the backoff as its countdown. Tasks can be lost (a broker restart, a worker
killed before acking on Redis): each worker therefore also runs a sweep that delivers rows that
have been due longer than a grace period. The broker is only ever a wake-up; the database row
is the truth, so nothing is lost with the broker.
https://docs.celeryq.dev/en/stable/userguide/tasks.html#tips-and-best-practices
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from celery import Celery, bootsteps

from hub.settings import Settings

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger("ingang.outbox")

DELIVER = "ingang.outbox.deliver"
QUEUE = "ingang.outbox"

_producers: dict[str, Celery] = {}
_hubs: dict[tuple[int, str], Hub] = {}
_lock = threading.Lock()


def sweep_grace(settings: Settings) -> float:
    """Return how long a due message may wait for its task before a sweep takes it."""
    return max(2.0 * settings.outbox_poll_seconds, 1.0)


def make_celery(settings: Settings) -> Celery:
    """Return a Celery app for the configured broker, with the outbox's task and sweep."""
    app = Celery("ingang", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        # Ack after the task ran, so a worker killed mid-task leaves the message to another.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # A request thread never waits long for a broker that is down: the sweep finds the row.
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        broker_transport_options={"visibility_timeout": max(3600, int(settings.outbox_lease_seconds * 2))},
        worker_hijack_root_logger=False,
    )

    @app.task(name=DELIVER)  # type: ignore[untyped-decorator]
    def deliver(outbox_id: int) -> str:
        outcome = _hub(settings).outbox.deliver_one(int(outbox_id))
        if outcome is None:
            return "skipped"
        if outcome.status == "retry" and outcome.retry_in is not None:
            deliver.apply_async((outbox_id,), countdown=outcome.retry_in)
        return outcome.status

    class Sweep(bootsteps.StartStopStep):  # type: ignore[misc]
        """Deliver, from the worker's main process, messages whose task never came."""

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.stopping = threading.Event()
            self.thread: threading.Thread | None = None

        def start(self, parent: Any) -> None:
            self.thread = threading.Thread(target=_sweep_loop, args=(settings, self.stopping),
                                           name="ingang-outbox-sweep", daemon=True)
            self.thread.start()

        def stop(self, parent: Any) -> None:
            self.stopping.set()
            if self.thread is not None:
                self.thread.join(10)

    app.steps["worker"].add(Sweep)
    return app


def _hub(settings: Settings) -> Hub:
    """Return this process's hub (a forked worker child builds its own)."""
    key = (os.getpid(), settings.database_url)
    with _lock:
        hub = _hubs.get(key)
        if hub is None:
            from hub.app import build_hub

            hub = _hubs[key] = build_hub(settings)
        return hub


def _sweep_loop(settings: Settings, stopping: threading.Event) -> None:
    grace = sweep_grace(settings)
    retention = timedelta(days=settings.outbox_retention_days)
    last_purge = 0.0
    while not stopping.is_set():
        try:
            outbox = _hub(settings).outbox
            while not stopping.is_set() and len(outbox.deliver_due(20, overdue_by=grace)) == 20:
                pass
            if time.monotonic() - last_purge > 300:
                outbox.purge(retention)
                last_purge = time.monotonic()
        except Exception:  # the database or broker may be briefly away
            log.exception("outbox sweep failed")
        stopping.wait(settings.outbox_poll_seconds)


def send_deliveries(settings: Settings, ids: list[int]) -> None:
    """Send one `deliver` task per committed message (from the API process, after commit)."""
    with _lock:
        app = _producers.get(settings.broker_url)
        if app is None:
            app = _producers[settings.broker_url] = make_celery(settings)
    for outbox_id in ids:
        app.send_task(DELIVER, args=(outbox_id,), queue=QUEUE)


def close_producers() -> None:
    """Close the broker connections `send_deliveries` opened (at shutdown)."""
    with _lock:
        apps = list(_producers.values())
        _producers.clear()
    for app in apps:
        app.close()


def run_worker(settings: Settings, *, concurrency: int, pool: str, loglevel: str) -> None:
    """Run a Celery worker for the outbox until it is stopped (`ingang worker`)."""
    app = make_celery(settings)
    app.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={loglevel}",
                     "-Q", QUEUE, "--without-gossip", "--without-mingle"])
