"""Let operators see and replay outbox messages, and let monitoring scrape the outbox's state.

`GET /api/outbox?status=dead` lists messages (newest state, payload and last error);
`POST /api/outbox/{id}/replay` queues a message again with a fresh attempt count. Both need a
hub-issued access token of a client named in `INGANG_OUTBOX_OPERATORS` acting as a system
(client credentials): an outbox payload can carry patient data, so neither citizens nor
clinicians see it. `GET /metrics` gives counts only (no payloads), in the Prometheus text
format, for the operations network's scraper.
https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fhir_api.outcomes import BadRequest, FhirError, Forbidden, NotFound
from hub.outbox import store
from hub.outbox.dispatcher import Outbox
from hub.outbox.table import STATUSES


class OperatorTokens(Protocol):
    """The part of the hub's token service the staff API needs."""

    def verify_authorization(self, authorization: str | None, *, now: datetime) -> Any: ...


def _outcome(exc: FhirError) -> Response:
    return JSONResponse(exc.outcome(), status_code=exc.status, headers=exc.headers,
                        media_type="application/fhir+json")


def _row_json(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.replace(tzinfo=UTC).isoformat() if value is not None else None

    return {
        "id": int(row.id), "kind": row.kind, "key": row.key, "status": row.status,
        "attempts": int(row.attempts), "nextAttemptAt": iso(row.next_attempt_at),
        "lastError": row.last_error, "receipt": row.receipt, "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at), "deliveredAt": iso(row.delivered_at),
        "payload": orjson.loads(row.payload),
    }


class StaffApi:
    """The operator routes over one outbox."""

    def __init__(self, outbox: Outbox, tokens: OperatorTokens | None, operators: frozenset[str],
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.outbox = outbox
        self.tokens = tokens
        self.operators = operators
        self.now = now

    @property
    def engine(self) -> Engine:
        return self.outbox.engine

    def _check_operator(self, request: Request) -> None:
        if self.tokens is None:
            raise Forbidden("The outbox API needs the hub's access control to be on")
        token = self.tokens.verify_authorization(request.headers.get("authorization"), now=self.now())
        principal = getattr(token, "principal", None)
        if getattr(principal, "kind", None) != "system" or token.client_id not in self.operators:
            raise Forbidden("Only an outbox operator client (INGANG_OUTBOX_OPERATORS) may use the outbox API")

    def list_messages(self, request: Request) -> Response:
        """List messages, optionally by status and kind, in id order after `after`."""
        try:
            self._check_operator(request)
            q = request.query_params
            status = q.get("status")
            if status is not None and status not in STATUSES:
                raise BadRequest(f"status must be one of {', '.join(STATUSES)}, not {status!r}", ("status",))
            try:
                after = int(q.get("after", "0"))
                count = min(1000, max(1, int(q.get("_count", "100"))))
            except ValueError:
                raise BadRequest("after and _count must be whole numbers", ("after",)) from None
            with self.engine.connect() as conn:
                rows = store.find(conn, status=status, kind=q.get("kind"), after_id=after, limit=count)
        except FhirError as exc:
            return _outcome(exc)
        body: dict[str, Any] = {"messages": [_row_json(r) for r in rows]}
        if len(rows) == count:
            body["next"] = f"/api/outbox?{_next_query(q, int(rows[-1].id))}"
        return JSONResponse(body)

    def replay(self, request: Request) -> Response:
        """Queue one message again, now, with a fresh attempt count."""
        try:
            self._check_operator(request)
            raw = request.path_params["message_id"]
            if not str(raw).isdigit():
                raise BadRequest(f"outbox message id must be a number, not {raw!r}", ("id",))
            message_id = int(raw)
            with self.engine.connect() as conn:
                conn.execution_options(immediate=True)
                with conn.begin():
                    row = store.get(conn, message_id)
                    if row is None:
                        raise NotFound(f"No outbox message {message_id}")
                    if row.status == "delivering":
                        raise BadRequest(f"Outbox message {message_id} is being delivered right now; "
                                         "replay it once its attempt has ended", ("id",))
                    store.requeue(conn, [message_id])
                    row = store.get(conn, message_id)
        except FhirError as exc:
            return _outcome(exc)
        self.outbox.wake_committed()
        return JSONResponse(_row_json(row))

    def metrics(self, _request: Request) -> Response:
        """Return the outbox's counts in the Prometheus text format."""
        with self.engine.connect() as conn:
            counts = store.counts(conn)
        lines = [
            "# HELP ingang_outbox_messages Outbox messages by status.",
            "# TYPE ingang_outbox_messages gauge",
        ]
        lines += [f'ingang_outbox_messages{{status="{s}"}} {n}' for s, n in sorted(counts.by_status.items())]
        lines += [
            "# HELP ingang_outbox_failed_messages Messages waiting after a failed attempt, or dead.",
            "# TYPE ingang_outbox_failed_messages gauge",
            f"ingang_outbox_failed_messages {counts.failed}",
            "# HELP ingang_outbox_oldest_queued_age_seconds Age of the oldest message not yet delivered.",
            "# TYPE ingang_outbox_oldest_queued_age_seconds gauge",
            f"ingang_outbox_oldest_queued_age_seconds {counts.oldest_queued_age:.3f}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    def routes(self) -> list[Route]:
        """Return the routes to mount on the app."""
        return [
            Route("/api/outbox", self.list_messages, methods=["GET"]),
            Route("/api/outbox/{message_id}/replay", self.replay, methods=["POST"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]


def _next_query(query: Any, after: int) -> str:
    from urllib.parse import urlencode

    params = {k: v for k, v in query.items() if k != "after"}
    params["after"] = str(after)
    return urlencode(params)


def operators_from(setting: str) -> frozenset[str]:
    """Parse the comma-separated operator client ids."""
    return frozenset(part.strip() for part in setting.split(",") if part.strip())
