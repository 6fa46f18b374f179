"""Route FHIR requests to interactions and run each in one unit of work.

This is the FHIR core: it knows nothing of the web framework. The HTTP layer hands it a
`FhirRequest` and gets a `FhirResponse` or a `FhirError`; transaction Bundles call `dispatch`
for each entry on their own connection, so all entries share one database transaction.
https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from fhir_api import changes
from fhir_api.changes import CommitListener, WriteListener
from fhir_api.interactions import Interactions, Matcher
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, MethodNotAllowed, NotFound, ServiceUnavailable
from fhir_api.resource_types import R4_RESOURCE_TYPES
from fhir_api.store.repository import ResourceRepository

if TYPE_CHECKING:
    from fhir_api.guard import Guard
    from fhir_api.searching import Searcher

log = logging.getLogger(__name__)

# No id holds a control character; a search value may hold a tab or a line break.
_CONTROL = re.compile("[\x00-\x1f]")
_QUERY_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")

# Write listeners may write again (an outbox row for a Subscription that a Task matched …);
# this bounds the rounds, so two listeners that answer each other cannot loop for ever.
MAX_LISTENER_ROUNDS = 8


@dataclass(frozen=True)
class Limits:
    """Sizes the server enforces and reports in its CapabilityStatement."""

    bundle_max_entries: int = 1000
    default_page_size: int = 20
    max_page_size: int = 1000


@dataclass
class Operation:
    """A named operation ($name) and where it may be invoked."""

    name: str
    handler: Callable[[Connection, FhirRequest, str | None, str | None], FhirResponse]
    types: frozenset[str] | None = None
    type_level: bool = True
    instance_level: bool = False
    system_level: bool = False
    writes: bool = False
    idempotent: bool = True
    documentation: str = ""
    definition: str = ""


@dataclass
class FhirServer:
    """The FHIR REST API over one database, independent of HTTP."""

    engine: Engine
    repo: ResourceRepository
    matcher: Matcher
    searcher: Searcher
    limits: Limits = field(default_factory=Limits)
    operations: dict[str, Operation] = field(default_factory=dict)
    guard: Guard | None = None
    write_listeners: list[WriteListener] = field(default_factory=list)
    commit_listeners: list[CommitListener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.interactions = Interactions(self.repo, self.matcher)
        # PostgreSQL's READ COMMITTED gives every statement its own snapshot, inside a
        # transaction or not, so BEGIN and ROLLBACK around a read only cost two round trips.
        # SQLite's deferred transaction costs none and gives a search one snapshot; keep it.
        self._autocommit_reads = self.engine.dialect.name == "postgresql"
        if self.guard is not None:
            self.searcher.filter_for = self.guard.search_filter

    def set_guard(self, guard: Guard) -> None:
        """Put every interaction, and every search's results, under `guard`."""
        self.guard = guard
        self.searcher.filter_for = guard.search_filter

    def add_operation(self, op: Operation) -> None:
        """Register an operation; the CapabilityStatement lists it from here."""
        self.operations[op.name] = op

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call `listener` with each unit of work's changes inside its transaction, before commit."""
        self.write_listeners.append(listener)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call `listener` with each unit of work's changes once they are committed."""
        self.commit_listeners.append(listener)

    @contextmanager
    def unit_of_work(self, writes: bool) -> Iterator[Connection]:
        """Yield a connection whose work commits on success and rolls back on any error."""
        if writes:
            with self.engine.connect() as conn:
                # SQLite takes its write lock up front, so writers queue instead of deadlocking.
                conn.execution_options(immediate=True)
                changes.start(conn)
                try:
                    with conn.begin():
                        yield conn
                        self._before_commit(conn)
                    written = changes.stop(conn)
                finally:
                    changes.stop(conn)
                self._after_commit(written)
        else:
            with self.engine.connect() as conn:
                if self._autocommit_reads:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn

    def _before_commit(self, conn: Connection) -> None:
        if not self.write_listeners:
            return
        seen = 0
        for _round in range(MAX_LISTENER_ROUNDS):
            fresh = changes.recorded(conn)[seen:]
            if not fresh:
                return
            seen += len(fresh)
            for listener in self.write_listeners:
                listener(conn, list(fresh))
        raise RuntimeError("write listeners kept writing; giving up rather than looping")

    def _after_commit(self, written: list[changes.Change]) -> None:
        if not written:
            return
        for listener in self.commit_listeners:
            try:
                listener(list(written))
            except Exception:  # a push that fails must not turn a committed write into an error
                log.exception("commit listener %r failed", listener)

    def handle(self, req: FhirRequest) -> FhirResponse:
        """Run one request in its own unit of work."""
        if self.guard is not None and req.caller is None:
            req.caller = self.guard.authenticate(req)
        if not req.segments and req.method == "POST":
            from fhir_api.bundles import process_bundle

            return process_bundle(self, req)
        writes = self._writes(req) or (self.guard is not None and self.guard.writes_audit(req))
        try:
            with self.unit_of_work(writes) as conn:
                return self.dispatch(conn, req)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The pool hands out connections unchecked (no ping per request), so one that the
            # database dropped fails here once; the pool then drops the others of its age.
            if writes:
                # Whether the commit reached the database is unknown: let the client decide.
                raise ServiceUnavailable("The database connection was lost; retry the request",
                                         headers={"Retry-After": "1"}) from None
            log.warning("database connection lost during a read; running it again")
        with self.unit_of_work(writes) as conn:
            return self.dispatch(conn, req)

    def guarded(
        self, conn: Connection, req: FhirRequest, action: Callable[[], FhirResponse]
    ) -> FhirResponse:
        """Run `action` between the guard's check and its audit, when there is a guard."""
        if self.guard is None:
            return action()
        from fhir_api.guard import classify

        route = classify(req)
        self.guard.before(conn, req, route)
        resp = action()
        self.guard.after(conn, req, route, resp)
        return resp

    def _writes(self, req: FhirRequest) -> bool:
        if req.method in ("GET", "HEAD"):
            return False
        segs = req.segments
        if req.method == "POST" and len(segs) == 2 and segs[1] == "_search":
            return False
        op_name = next((s for s in segs if s.startswith("$")), None)
        if op_name is not None:
            op = self.operations.get(op_name[1:])
            return bool(op and op.writes)
        return True

    def dispatch(self, conn: Connection, req: FhirRequest) -> FhirResponse:
        """Route a request to its interaction on the given connection, under the guard."""
        return self.guarded(conn, req, lambda: self._dispatch(conn, req))

    def _dispatch(self, conn: Connection, req: FhirRequest) -> FhirResponse:
        if _CONTROL.search(req.path) or any(_QUERY_CONTROL.search(k + v) for k, v in req.query):
            # No FHIR id or value holds one; PostgreSQL refuses a NUL in any text it is sent,
            # and XML cannot quote any of them back in an OperationOutcome.
            raise BadRequest("The URL holds a control character (%00-%1F), which no FHIR value may contain",
                             ("url",))
        segs, method = req.segments, req.method
        if method == "HEAD":
            method = "GET"
        if not segs:
            if method == "GET":
                return self.searcher.search(conn, req, None)
            raise MethodNotAllowed(f"{method} is not supported on the base URL")
        head = segs[0]
        if head == "metadata" and len(segs) == 1:
            if method != "GET":
                raise MethodNotAllowed("metadata is read-only")
            from fhir_api.capability import capability_statement

            return FhirResponse(200, capability_statement(self, req.base_url))
        if head == "_history" and len(segs) == 1:
            return self._only_get(method, lambda: self.searcher.history(conn, req, None, None))
        if head.startswith("$"):
            return self._operation(conn, req, head[1:], None, None, "system")
        res_type = head
        if res_type not in R4_RESOURCE_TYPES:
            raise NotFound(f"Unknown resource type '{res_type}'", (res_type,), issue_code="not-supported")
        if len(segs) == 1:
            return self._type_level(conn, req, method, res_type)
        second = segs[1]
        if second == "_search" and len(segs) == 2:
            if method != "POST":
                raise MethodNotAllowed("_search takes POST; use GET on the type for a query")
            return self.searcher.search(conn, req, res_type)
        if second == "_history" and len(segs) == 2:
            return self._only_get(method, lambda: self.searcher.history(conn, req, res_type, None))
        if second.startswith("$") and len(segs) == 2:
            return self._operation(conn, req, second[1:], res_type, None, "type")
        res_id = second
        if len(segs) == 2:
            return self._instance_level(conn, req, method, res_type, res_id)
        third = segs[2]
        if third == "_history" and len(segs) == 3:
            return self._only_get(method, lambda: self.searcher.history(conn, req, res_type, res_id))
        if third == "_history" and len(segs) == 4:
            return self._only_get(
                method, lambda: self.interactions.vread(conn, req, res_type, res_id, segs[3])
            )
        if third.startswith("$") and len(segs) == 3:
            return self._operation(conn, req, third[1:], res_type, res_id, "instance")
        raise NotFound(f"No route for '{req.path}'")

    def _only_get(self, method: str, action: Callable[[], FhirResponse]) -> FhirResponse:
        if method != "GET":
            raise MethodNotAllowed(f"{method} is not supported here; this path is read with GET")
        return action()

    def _type_level(self, conn: Connection, req: FhirRequest, method: str, res_type: str) -> FhirResponse:
        if method == "GET":
            return self.searcher.search(conn, req, res_type)
        if method == "POST":
            return self.interactions.create(conn, req, res_type)[0]
        if method == "PUT":
            return self.interactions.conditional_update(conn, req, res_type)[0]
        if method == "DELETE":
            return self.interactions.conditional_delete(conn, req, res_type)
        raise MethodNotAllowed(f"{method} is not supported on {res_type}")

    def _instance_level(
        self, conn: Connection, req: FhirRequest, method: str, res_type: str, res_id: str
    ) -> FhirResponse:
        if method == "GET":
            return self.interactions.read(conn, req, res_type, res_id)
        if method == "PUT":
            return self.interactions.update(conn, req, res_type, res_id)[0]
        if method == "PATCH":
            return self.interactions.patch(conn, req, res_type, res_id)[0]
        if method == "DELETE":
            return self.interactions.delete(conn, req, res_type, res_id)
        raise MethodNotAllowed(f"{method} is not supported on {res_type}/{res_id}")

    def _operation(
        self, conn: Connection, req: FhirRequest, name: str, res_type: str | None,
        res_id: str | None, level: str,
    ) -> FhirResponse:
        op = self.operations.get(name)
        if op is None:
            raise NotFound(f"Unknown operation ${name}", (f"${name}",), issue_code="not-supported")
        allowed = {"type": op.type_level, "instance": op.instance_level, "system": op.system_level}
        if not allowed[level] or (res_type is not None and op.types is not None and res_type not in op.types):
            where = f"on {res_type}" if res_type else "at system level"
            raise NotFound(f"${name} is not defined {where}", (f"${name}",), issue_code="not-supported")
        if req.method not in ("GET", "POST"):
            raise MethodNotAllowed(f"${name} takes POST (or GET when it changes nothing)")
        if req.method == "GET" and not op.idempotent:
            raise MethodNotAllowed(f"${name} changes data and takes POST")
        if res_id is not None and res_type is not None:
            self.interactions.current(conn, res_type, res_id)
        if req.method == "POST" and req.body is not None and not isinstance(req.body, dict):
            raise BadRequest(f"${name} takes a Parameters resource or a resource as its body")
        return op.handler(conn, req, res_type, res_id)
