"""Deliver outbox messages with Celery workers on RabbitMQ or Redis: the production dispatcher.

The API process sends one `deliver(outbox_id)` task per message after its transaction commits;
the task re-reads the row, claims it only if it is still due (so duplicates and stale tasks do
nothing) and delivers it with the handlers `build_hub` registered. A failed attempt sends the
task again with the backoff as its countdown. Tasks can be lost (a broker restart, a worker
killed before acking on Redis): each worker therefore also sends itself a sweep task every poll
interval, which delivers rows that have been due longer than a grace period. The broker is only ever a wake-up; the database row
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
SWEEP = "ingang.outbox.sweep"
PURGE_EVERY = 300.0
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
        # Publishing happens after a request's commit: a broker that is down costs it seconds at
        # most, and the sweep delivers what could not be announced.
        broker_connection_timeout=2.0,
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

    @app.task(name=SWEEP)  # type: ignore[untyped-decorator]
    def sweep() -> int:
        return _sweep(settings)

    class Sweep(bootsteps.StartStopStep):  # type: ignore[misc]
        """Send a sweep task every poll interval from the worker's timer.

        The sweep itself runs in a pool process: the main process forks the pool and must not
        run database threads of its own, or a child forked mid-query could inherit a held lock.
        """

        requires = ("celery.worker.components:Timer",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self.tref: Any = None

        def start(self, parent: Any) -> None:
            interval = max(0.1, settings.outbox_poll_seconds)
            self.tref = parent.timer.call_repeatedly(interval, _send_sweep, (app, interval), priority=10)

        def stop(self, parent: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None

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


_last_purge: dict[int, float] = {}


def _sweep(settings: Settings) -> int:
    """Deliver messages due longer than the grace period; now and then purge old delivered ones."""
    outbox = _hub(settings).outbox
    delivered = 0
    while True:
        batch = outbox.deliver_due(20, overdue_by=sweep_grace(settings))
        delivered += len(batch)
        if len(batch) < 20:
            break
    pid = os.getpid()
    if time.monotonic() - _last_purge.get(pid, -PURGE_EVERY) >= PURGE_EVERY:
        outbox.purge(timedelta(days=settings.outbox_retention_days))
        _last_purge[pid] = time.monotonic()
    return delivered


def _send_sweep(app: Celery, interval: float) -> None:
    try:
        # A sweep that waited longer than two intervals is stale: a newer one is on its way.
        app.send_task(SWEEP, queue=QUEUE, expires=2 * interval)
    except Exception:  # the broker is away; the next tick tries again
        log.warning("could not send the outbox sweep", exc_info=True)


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
    # A node name of its own, so several workers on one host do not share a control queue.
    app.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}", f"--loglevel={loglevel}",
                     f"--hostname=ingang-{os.getpid()}@%h", "-Q", QUEUE, "--without-gossip", "--without-mingle"])
