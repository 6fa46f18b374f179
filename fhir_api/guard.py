"""Define the port through which access control and the audit trail see every interaction.

The FHIR core decides nothing about who may do what; it tells a `Guard` what is about to
happen and what happened, on the same connection, so an access check and its AuditEvent are
in the same transaction as the interaction. Without a guard the server is open, which is
what the embedded default's tests of the FHIR layer itself use.
https://hl7.org/fhir/R4/security.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.search import AccessFilter


@dataclass(frozen=True)
class Route:
    """What a request asks for, once routed: the interaction and its target."""

    interaction: str  # read vread update patch delete create search history operation capabilities
    res_type: str | None = None
    res_id: str | None = None
    operation: str | None = None
    conditional: bool = False


class Guard(Protocol):
    """Authenticate callers, authorise interactions, filter searches and write the audit trail."""

    def authenticate(self, req: FhirRequest) -> Any:
        """Return the caller (None when anonymous) or raise Unauthorized."""
        ...

    def writes_audit(self, req: FhirRequest) -> bool:
        """Tell whether this request will write an AuditEvent (so needs a write transaction)."""
        ...

    def before(self, conn: Connection, req: FhirRequest, route: Route) -> None:
        """Raise Forbidden, NotFound or Unauthorized if the caller may not do this."""
        ...

    def after(self, conn: Connection, req: FhirRequest, route: Route, resp: FhirResponse) -> None:
        """Check what is returned may be seen (raise NotFound if not) and audit the access."""
        ...

    def search_filter(self, conn: Connection, req: FhirRequest) -> AccessFilter | None:
        """Return the condition that hides from a search what the caller may not see."""
        ...


def classify(req: FhirRequest) -> Route:
    """Name the interaction a request asks for, by the same rules the server routes by."""
    segs, method = req.segments, "GET" if req.method == "HEAD" else req.method
    if not segs:
        return Route("search" if method == "GET" else "transaction")
    head = segs[0]
    if head == "metadata":
        return Route("capabilities")
    if head == "_history":
        return Route("history")
    if head.startswith("$"):
        return Route("operation", operation=head[1:])
    if len(segs) == 1:
        kind = {"GET": "search", "POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}
        return Route(kind.get(method, method.lower()), head, conditional=method in ("PUT", "DELETE", "PATCH"))
    second = segs[1]
    if second == "_search":
        return Route("search", head)
    if second == "_history":
        return Route("history", head)
    if second.startswith("$"):
        return Route("operation", head, operation=second[1:])
    if len(segs) == 2:
        kind = {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        return Route(kind.get(method, method.lower()), head, second)
    if segs[2] == "_history":
        return Route("vread" if len(segs) == 4 else "history", head, second)
    if segs[2].startswith("$"):
        return Route("operation", head, second, operation=segs[2][1:])
    return Route(method.lower(), head, second)
