"""Name what a handler gets and how it says a delivery failed.

A handler is a plain callable: it receives an `OutboxMessage`, delivers it (passing `key` on
as the idempotency key, because a message can be delivered more than once when a worker dies
mid-call), and returns a short receipt such as the remote id. `RetryLater` is a transient
failure (the receiver is down, 503, a timeout); `GiveUp` is permanent (400, a rejected
message) and sends the row straight to dead. Any other exception counts as transient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OutboxMessage:
    """One message as a handler sees it; `attempts` counts this attempt too."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class RetryLater(Exception):
    """A transient failure: try again after the backoff (or after `after` seconds, if given)."""

    def __init__(self, reason: str, *, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class GiveUp(Exception):
    """A permanent failure: retrying cannot help, so the message goes to dead at once."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Handler = Callable[[OutboxMessage], "str | None"]
