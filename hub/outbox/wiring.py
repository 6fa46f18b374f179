"""Build the hub's outbox from settings and start the dispatcher the settings name.

`build_outbox` runs in `build_hub`, in the API process and in every worker alike, so both know
the same handlers. The FHIR server's unit of work hands the ids it enqueued to the dispatcher
after commit: the inline thread wakes, or Celery gets one `deliver` task per message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from fhir_api.server import FhirServer
from hub.outbox.dispatcher import Outbox, RetryPolicy
from hub.settings import Settings

DISPATCHERS = ("inline", "celery", "off")


def retry_policy(settings: Settings) -> RetryPolicy:
    """Return the retry policy the settings describe."""
    return RetryPolicy(max_attempts=max(1, settings.outbox_max_attempts),
                       backoff_base=settings.outbox_backoff_base, backoff_cap=settings.outbox_backoff_cap,
                       lease=settings.outbox_lease_seconds)


def build_outbox(settings: Settings, engine: Engine, server: FhirServer) -> Outbox:
    """Return the outbox over `engine`, woken after each FHIR unit of work that enqueued."""
    if settings.outbox_dispatcher not in DISPATCHERS:
        raise SystemExit(f"configuration error: INGANG_OUTBOX_DISPATCHER must be one of {', '.join(DISPATCHERS)}")
    if settings.outbox_dispatcher == "celery" and not settings.broker_url:
        raise SystemExit("configuration error: INGANG_OUTBOX_DISPATCHER=celery needs INGANG_BROKER_URL")
    outbox = Outbox(engine, retry_policy(settings))
    server.add_commit_listener(outbox.wake_committed)
    if settings.outbox_dispatcher == "celery":
        from hub.celery_app import send_deliveries

        outbox.on_enqueued(lambda ids: send_deliveries(settings, ids))
    return outbox


def start_dispatcher(settings: Settings, outbox: Outbox) -> Callable[[], None]:
    """Start the in-process dispatcher when it is the configured one; return how to stop it."""
    if settings.outbox_dispatcher == "celery":
        from hub.celery_app import close_producers

        return close_producers
    if settings.outbox_dispatcher != "inline":
        return lambda: None
    from hub.outbox.inline import InlineDispatcher

    dispatcher = InlineDispatcher(outbox, poll=settings.outbox_poll_seconds,
                                  retention=timedelta(days=settings.outbox_retention_days))
    dispatcher.start()
    return dispatcher.stop
