"""The outbox: messages a change owes the outside world, written in the change's transaction.

Callers write with `enqueue(conn, kind=…, key=…, payload=…)` on their own connection and
commit as usual; `Hub.outbox` (an `Outbox`, built in `build_hub`) holds one handler per kind
and delivers: an in-process loop in the embedded default, Celery workers in production.
See hub/outbox/README.md for the states, the retry policy and the staff API.
"""

from hub.outbox.dispatcher import Outbox, Outcome, RetryPolicy
from hub.outbox.messages import GiveUp, Handler, OutboxMessage, RetryLater
from hub.outbox.store import enqueue

__all__ = ["GiveUp", "Handler", "Outbox", "OutboxMessage", "Outcome", "RetryLater", "RetryPolicy", "enqueue"]
