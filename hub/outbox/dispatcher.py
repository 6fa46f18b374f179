"""Deliver outbox messages: claim, call the kind's handler outside any transaction, settle.

The same `Outbox` object serves the in-process loop (`deliver_due`, a batch at a time) and
Celery (`deliver_one`, by id). A handler's failure puts the message back with exponential
backoff and jitter, so receivers coming back up are not hit by every retry at once; after
`max_attempts` (or a `GiveUp`) the message is dead until staff replay it. Handlers are
registered in `build_hub`, so the API process and every worker know the same kinds.
https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine

from hub.outbox import store
from hub.outbox.messages import GiveUp, Handler, OutboxMessage, RetryLater
from hub.outbox.store import Claimed
from hub.outbox.table import utcnow

log = logging.getLogger("ingang.outbox")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon to try again, and how long a worker may hold a message."""

    max_attempts: int = 12
    backoff_base: float = 2.0
    backoff_cap: float = 3600.0
    lease: float = 60.0

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> float:
        """Return the wait before the next attempt: exponential, capped, half of it jittered."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))
        return float(ceiling / 2 + rng() * ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt."""

    message_id: int
    status: str  # delivered, retry, dead, lost (another worker settled it)
    detail: str = ""
    retry_in: float | None = None


WakeListener = Callable[[list[int]], None]


class Outbox:
    """The handlers for each kind of message, and the delivery of due messages to them."""

    def __init__(self, engine: Engine, policy: RetryPolicy | None = None, *,
                 rng: Callable[[], float] = random.random) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self._handlers: dict[str, Handler] = {}
        self._wake: list[WakeListener] = []
        self._rng = rng

    # -- registration -------------------------------------------------------------------
    def register(self, kind: str, handler: Handler) -> None:
        """Deliver messages of `kind` with `handler`; each kind has one handler."""
        if kind in self._handlers and self._handlers[kind] is not handler:
            raise ValueError(f"outbox kind {kind!r} already has a handler")
        self._handlers[kind] = handler

    def kinds(self) -> list[str]:
        """Return the kinds this outbox can deliver."""
        return sorted(self._handlers)

    def on_enqueued(self, listener: WakeListener) -> None:
        """Call `listener` with the ids of committed new messages (a wake-up, best effort)."""
        self._wake.append(listener)

    def wake(self, ids: list[int]) -> None:
        """Tell the dispatchers that these messages are committed and due."""
        for listener in self._wake:
            try:
                listener(list(ids))
            except Exception:  # a lost wake-up is found by the next poll or sweep
                log.exception("outbox wake-up failed")

    def wake_committed(self, _changes: object = None) -> None:
        """Commit listener: wake the dispatchers for what this context enqueued."""
        ids = store.take_written()
        if ids:
            self.wake(ids)

    # -- delivery -----------------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def deliver_due(self, limit: int = 20, *, overdue_by: float = 0.0) -> list[Outcome]:
        """Claim up to `limit` messages of known kinds due `overdue_by` seconds ago; deliver them."""
        lease = timedelta(seconds=self.policy.lease)
        with self._transaction() as conn:
            claimed = store.claim_due(conn, limit=limit, lease=lease, kinds=self.kinds(),
                                      overdue_by=timedelta(seconds=overdue_by))
        return [self._deliver(c) for c in claimed]

    def deliver_one(self, message_id: int) -> Outcome | None:
        """Deliver one message by id if it is still due; None when there is nothing to do."""
        with self._transaction() as conn:
            claimed = store.claim_one(conn, message_id, lease=timedelta(seconds=self.policy.lease))
        return self._deliver(claimed) if claimed is not None else None

    def _deliver(self, claimed: Claimed) -> Outcome:
        msg = claimed.message
        handler = self._handlers.get(msg.kind)
        try:
            if handler is None:
                raise GiveUp(f"no handler is registered for outbox kind {msg.kind!r}")
            receipt = handler(msg)
        except GiveUp as exc:
            return self._fail(claimed, f"gave up: {exc.reason}", None, permanent=True)
        except RetryLater as exc:
            return self._fail(claimed, exc.reason, exc.after)
        except Exception as exc:  # anything unexpected is treated as transient
            log.warning("outbox %s #%s attempt %s failed", msg.kind, msg.id, msg.attempts, exc_info=True)
            return self._fail(claimed, f"{type(exc).__name__}: {exc}", None)
        with self._transaction() as conn:
            counted = store.record_delivered(conn, claimed, receipt)
        return Outcome(msg.id, "delivered" if counted else "lost", receipt or "")

    def _fail(self, claimed: Claimed, error: str, after: float | None, *, permanent: bool = False) -> Outcome:
        msg = claimed.message
        now = utcnow()
        if permanent or msg.attempts >= self.policy.max_attempts:
            retry_at = None
            delay = None
        else:
            delay = after if after is not None else self.policy.delay(msg.attempts, self._rng)
            retry_at = now + timedelta(seconds=delay)
        with self._transaction() as conn:
            counted = store.record_failure(conn, claimed, error, retry_at=retry_at, now=now)
        if not counted:
            return Outcome(msg.id, "lost", error)
        if retry_at is None:
            log.error("outbox %s #%s is dead after %s attempts: %s", msg.kind, msg.id, msg.attempts, error)
            return Outcome(msg.id, "dead", error)
        return Outcome(msg.id, "retry", error, delay)

    def purge(self, retention: timedelta) -> int:
        """Delete delivered messages older than `retention` (they were kept for replay)."""
        with self._transaction() as conn:
            return store.purge_delivered(conn, before=utcnow() - retention)


__all__ = ["GiveUp", "Handler", "Outbox", "OutboxMessage", "Outcome", "RetryLater", "RetryPolicy"]
