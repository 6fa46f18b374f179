"""Offer R4 Subscriptions: match writes, deliver through the outbox, replay a period.

`Subscription/{id}/$replay?since=<instant>` queues again every notification of that
subscription created since then (default: all still kept), delivered or not; delivered
notifications are kept `INGANG_OUTBOX_RETENTION_DAYS` days, so that is how far back a
subscriber can ask. Receivers dedupe by `Idempotency-Key`, so a replay of something they
already have changes nothing.
https://hl7.org/fhir/R4/subscription.html
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, NotFound
from fhir_api.server import FhirServer, Operation
from hub.outbox import Outbox
from hub.outbox import store as outbox_store
from hub.subscriptions.matching import HANDSHAKE, NOTIFY, SubscriptionMatcher
from hub.subscriptions.rest_hook import RestHook


def register_subscriptions(server: FhirServer, outbox: Outbox, *, error_after: int = 5,
                           hook: RestHook | None = None) -> RestHook:
    """Match writes against Subscriptions and deliver their notifications from `outbox`."""
    hook = hook or RestHook(server, error_after=error_after)
    server.add_write_listener(SubscriptionMatcher(server))
    outbox.register(NOTIFY, hook.notify)
    outbox.register(HANDSHAKE, hook.handshake)
    server.add_operation(Operation(
        name="replay", handler=lambda conn, req, t, i: replay(server, conn, req, i),
        types=frozenset({"Subscription"}), type_level=False, instance_level=True, writes=True,
        idempotent=False,
        documentation="Queue again this Subscription's notifications created since `since` (an instant; "
                      "default: all that are still kept), delivered or not. Receivers dedupe by the "
                      "Idempotency-Key header.",
    ))
    return hook


def _since(req: FhirRequest) -> datetime | None:
    values = [v for k, v in req.query if k == "since"]
    if isinstance(req.body, dict) and req.body.get("resourceType") == "Parameters":
        values += [p.get("valueInstant") or p.get("valueDateTime") or p.get("valueDate")
                   for p in req.body.get("parameter") or [] if p.get("name") == "since"]
    values = [v for v in values if v]
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("give since once", ("since",))
    try:
        moment = datetime.fromisoformat(str(values[0]).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"since must be an instant such as 2026-01-31T08:00:00Z, not {values[0]!r}",
                         ("since",)) from None
    return moment


def replay(server: FhirServer, conn: Connection, req: FhirRequest, sid: str | None) -> FhirResponse:
    """Queue a Subscription's kept notifications again and say how many."""
    if sid is None:
        raise NotFound("$replay is run on one Subscription: Subscription/{id}/$replay")
    stored = server.repo.read(conn, "Subscription", sid)
    if stored is None or stored.deleted:
        raise NotFound(f"Subscription/{sid} is not known", ("Subscription",))
    since = _since(req)
    ids: list[int] = []
    after = 0
    while True:
        rows = outbox_store.find(conn, kind=NOTIFY, key_prefix=f"Subscription/{sid}/", since=since,
                                 after_id=after, limit=500)
        ids += [int(r.id) for r in rows if r.status != "delivering"]
        if len(rows) < 500:
            break
        after = int(rows[-1].id)
    count = outbox_store.requeue(conn, ids)
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": [
        {"name": "replayed", "valueInteger": count},
    ]})
