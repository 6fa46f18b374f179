"""Deliver Subscription handshakes and notifications over HTTP, as outbox handlers.

Each request carries `Idempotency-Key` (the outbox key: subscription + resource version), so
a receiver that sees a notification twice — a worker killed after sending, before recording —
can tell. 2xx is delivered; 408, 425, 429 and 5xx or no answer are retried; any other 4xx is
permanent. After `error_after` failed attempts in a row the Subscription's status becomes
`error` (with the reason in `Subscription.error`), and a later success makes it `active` again.
A notification whose resource has a newer matching version is skipped, so a retry never sends
the subscriber an older copy after a newer one.
https://hl7.org/fhir/R4/subscription.html#2.46.7.2
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from typing import Any

import httpx
from sqlalchemy import Connection

from fhir_api.outcomes import Conflict
from fhir_api.server import FhirServer
from hub.outbox import GiveUp, OutboxMessage, RetryLater
from hub.outbox import store as outbox_store
from hub.subscriptions.spec import NOTIFY, SubscriptionSpec, notification_key, parse_subscription

log = logging.getLogger("ingang.subscriptions")

SIGNATURE_HEADER = "X-Ingang-Signature"
RETRYABLE = frozenset({408, 425, 429})
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def signature(secret: str, key: str, body: bytes, now: int) -> str:
    """Return the signature header value over `<t>.<key>.<body>`."""
    mac = hmac.new(secret.encode(), f"{now}.{key}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={now}, v1={mac}"


class RestHook:
    """Send handshakes and notifications for the hub's Subscriptions."""

    def __init__(self, server: FhirServer, *, error_after: int = 5,
                 client: httpx.Client | None = None) -> None:
        self.server = server
        self.error_after = max(1, error_after)
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
            return self._client

    # -- handlers -----------------------------------------------------------------------
    def handshake(self, msg: OutboxMessage) -> str | None:
        """Ping the endpoint of a `requested` Subscription and make it `active` when it answers."""
        sid = str(msg.payload["subscription"])
        spec = self._current(sid)
        if spec is None or spec.status != "requested":
            return "skipped: no longer requested"
        self._send(spec, msg, "POST", spec.endpoint, b"", content_type=None)
        self._set_status(sid, "active", only_from=("requested", "error"))
        return "active"

    def notify(self, msg: OutboxMessage) -> str | None:
        """Send one notification: the resource version that matched, or an empty POST."""
        sid = str(msg.payload["subscription"])
        res_type, res_id, version = str(msg.payload["type"]), str(msg.payload["id"]), int(msg.payload["version"])
        with self.server.engine.connect() as conn:  # one connection for every read this needs
            spec = self._current(sid, conn)
            if spec is None or spec.status in ("off", "entered-in-error"):
                return "skipped: subscription is off"
            if spec.status == "requested":
                raise RetryLater("the subscription's handshake has not succeeded yet")
            newer = self._newer_notification(conn, sid, res_type, res_id, version)
            if newer is not None:
                # A later version matched too and has its own notification: sending this one after
                # a retry could put the subscriber's copy back in time.
                return f"skipped: superseded by version {newer}"
            stored = self.server.repo.vread(conn, res_type, res_id, version) if spec.full_payload else None
        if spec.full_payload:
            if stored is None or stored.deleted or stored.content is None:
                return "skipped: version is gone"
            receipt = self._send(spec, msg, "PUT", f"{spec.endpoint}/{res_type}/{res_id}",
                                 stored.content.encode(), content_type="application/fhir+json")
        else:
            receipt = self._send(spec, msg, "POST", spec.endpoint, b"", content_type=None)
        if spec.status == "error":
            self._set_status(sid, "active", only_from=("error",))
        return receipt

    def _newer_notification(self, conn: Connection, sid: str, res_type: str, res_id: str,
                            version: int) -> int | None:
        current = self.server.repo.read(conn, res_type, res_id)
        if current is None or current.version_id <= version:
            return None
        # Exact keys, so the unique (kind, key) index answers; the last 50 versions are plenty.
        wanted = {notification_key(sid, res_type, res_id, v): v
                  for v in range(max(version + 1, current.version_id - 49), current.version_id + 1)}
        found = outbox_store.existing_keys(conn, NOTIFY, list(wanted))
        return max((wanted[k] for k in found), default=None)

    # -- HTTP ---------------------------------------------------------------------------
    def _send(self, spec: SubscriptionSpec, msg: OutboxMessage, method: str, url: str, body: bytes,
              *, content_type: str | None) -> str:
        headers = {name: value for name, value in spec.headers}
        headers["Idempotency-Key"] = msg.key
        headers["X-Ingang-Subscription"] = f"Subscription/{spec.id}"
        if content_type:
            headers["Content-Type"] = content_type
        if spec.secret:
            headers[SIGNATURE_HEADER] = signature(spec.secret, msg.key, body, int(time.time()))
        try:
            resp = self.client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self._failed(spec, msg, f"{type(exc).__name__} calling the endpoint")
            raise RetryLater(f"{type(exc).__name__} calling {url}") from None
        if 200 <= resp.status_code < 300:
            return f"HTTP {resp.status_code}"
        reason = f"HTTP {resp.status_code} from {url}"
        if resp.status_code >= 500 or resp.status_code in RETRYABLE:
            self._failed(spec, msg, reason)
            raise RetryLater(reason, after=_retry_after(resp))
        self._set_status(spec.id, "error", only_from=("requested", "active"), error=reason)
        raise GiveUp(reason)

    def _failed(self, spec: SubscriptionSpec, msg: OutboxMessage, reason: str) -> None:
        if msg.attempts >= self.error_after:
            self._set_status(spec.id, "error", only_from=("requested", "active"),
                             error=f"{msg.attempts} failed attempts; last: {reason}")

    # -- the Subscription resource ------------------------------------------------------
    def _current(self, sid: str, conn: Connection | None = None) -> SubscriptionSpec | None:
        if conn is None:
            with self.server.engine.connect() as own:
                return self._current(sid, own)
        stored = self.server.repo.read(conn, "Subscription", sid)
        if stored is None or stored.deleted:
            return None
        return parse_subscription(stored.json())

    def _set_status(self, sid: str, status: str, *, only_from: tuple[str, ...], error: str | None = None) -> None:
        try:
            with self.server.unit_of_work(True) as conn:
                stored = self.server.repo.read(conn, "Subscription", sid)
                if stored is None or stored.deleted:
                    return
                resource: dict[str, Any] = stored.json()
                if resource.get("status") not in only_from:
                    return
                resource["status"] = status
                if error:
                    resource["error"] = error[:500]
                else:
                    resource.pop("error", None)
                self.server.repo.update(conn, stored, resource)
        except Conflict:  # someone changed it meanwhile; their version stands
            log.info("Subscription/%s changed while its status was being set to %s", sid, status)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    return float(value) if value.isdigit() and int(value) <= 3600 else None
