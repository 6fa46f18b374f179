"""Turn each written version that a Subscription's criteria select into an outbox row.

Runs as a write listener, inside the transaction that wrote the version, so the notification
exists exactly when the change does. A version is matched by running the subscription's own
criteria as a search restricted to that resource's id: the search index is written in the
same transaction, so this is the very matcher a client's search would use, not a second
interpretation of the criteria. A Subscription written with status `requested` gets a
handshake; one the hub cannot honour is refused (422) and nothing is stored.
https://hl7.org/fhir/R4/subscription.html#2.46.7.1
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection

from fhir_api.changes import Change
from fhir_api.outcomes import BadRequest, Unprocessable
from fhir_api.server import FhirServer
from hub.access.ownership import subscriber_may_see
from hub.outbox import enqueue
from hub.subscriptions.spec import (
    COLLECTING,
    HANDSHAKE,
    NOTIFY,
    SUBSCRIBABLE,
    SubscriptionSpec,
    handshake_key,
    notification_key,
    parse_subscription,
)

log = logging.getLogger("ingang.subscriptions")

__all__ = ["HANDSHAKE", "NOTIFY", "SubscriptionMatcher"]


class SubscriptionMatcher:
    """The write listener that validates Subscriptions and enqueues their notifications."""

    def __init__(self, server: FhirServer) -> None:
        self.server = server

    def __call__(self, conn: Connection, written: list[Change]) -> None:
        for change in written:
            if change.res_type == "Subscription" and change.method != "delete":
                self._subscription_written(conn, change)
        relevant = [c for c in written if c.res_type in SUBSCRIBABLE and c.method != "delete"]
        if not relevant:
            return
        subscriptions = self.collecting(conn, {c.res_type for c in relevant})
        for change in relevant:
            for spec in subscriptions.get(change.res_type, ()):
                if self._selects(conn, spec, change):
                    enqueue(conn, kind=NOTIFY,
                            key=notification_key(spec.id, change.res_type, change.res_id, change.version),
                            payload={"subscription": spec.id, "type": change.res_type, "id": change.res_id,
                                     "version": change.version})

    def _subscription_written(self, conn: Connection, change: Change) -> None:
        resource = change.json()
        spec = parse_subscription(resource)
        try:  # the criteria must be a search the hub can run; find out now, not at the first match
            self.server.matcher.ids(conn, spec.res_type, [*spec.params, ("_id", "-")])
        except BadRequest as exc:
            raise Unprocessable(f"Subscription.criteria is not a search the hub can run: {exc.diagnostics}",
                                ("Subscription.criteria",), issue_code="invalid") from None
        if spec.status == "requested":
            enqueue(conn, kind=HANDSHAKE, key=handshake_key(change.res_id, change.version),
                    payload={"subscription": change.res_id, "version": change.version})

    def collecting(self, conn: Connection, types: set[str]) -> dict[str, list[SubscriptionSpec]]:
        """Return the Subscriptions that collect notifications, by the type their criteria name."""
        out: dict[str, list[SubscriptionSpec]] = {}
        now = datetime.now(UTC)
        ids = self.server.matcher.ids(conn, "Subscription", [("status", ",".join(COLLECTING))])
        for sid in ids:
            stored = self.server.repo.read(conn, "Subscription", sid)
            if stored is None or stored.deleted:
                continue
            try:
                spec = parse_subscription(stored.json())
            except Unprocessable:  # stored before a rule tightened; it cannot be delivered as is
                log.warning("Subscription/%s cannot be honoured and is skipped", sid)
                continue
            if spec.res_type in types and not _ended(spec.end, now):
                out.setdefault(spec.res_type, []).append(spec)
        return out

    def _selects(self, conn: Connection, spec: SubscriptionSpec, change: Change) -> bool:
        params: Sequence[tuple[str, str]] = [*spec.params, ("_id", change.res_id)]
        try:
            return bool(self.server.matcher.ids(conn, spec.res_type, list(params))) and subscriber_may_see(
                self.server, conn, spec.id, change.res_type, change.res_id)  # never what the owner may not see
        except BadRequest:
            log.warning("Subscription/%s has criteria the hub cannot run", spec.id)
            return False


def _ended(end: str | None, now: datetime) -> bool:
    if not end:
        return False
    try:
        moment = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < now
