"""Answer search and history interactions with Bundles built from stored text.

The search engine (`fhir_api.search`) finds rows; this module turns them into `searchset` and
`history` Bundles with self, next and previous links. Links carry keyset cursors, never
offsets, so paging stays correct while resources are written between pages.
https://hl7.org/fhir/R4/search.html#return
https://hl7.org/fhir/R4/http.html#history
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Connection

from fhir_api import search as engine
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, operation_outcome
from fhir_api.raw import Raw
from fhir_api.search import AccessFilter
from fhir_api.searchparams import SearchParamRegistry

if TYPE_CHECKING:
    from fhir_api.server import Limits
from fhir_api.store.repository import ResourceRepository, instant, new_id, utcnow

_HISTORY_CURSOR = "_before"


def _query_of(req: FhirRequest) -> list[tuple[str, str]]:
    """Return the search parameters: the URL's, plus a form body on POST _search."""
    params = [(k, v) for k, v in req.query if k not in ("_format", "_pretty")]
    if req.method == "POST" and isinstance(req.body, str):
        params += parse_qsl(req.body, keep_blank_values=True)
    return params


def parse_fhir_instant(value: str, name: str) -> datetime:
    """Read an instant or date given as a parameter, as naive UTC."""
    try:
        text = value.replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: '{value}' is not a FHIR instant or date", (name,)) from None
    if dt.tzinfo is not None:
        try:
            dt = dt.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+14:00 is a moment before year 1
            raise BadRequest(f"{name}: '{value}' is outside the years 1-9999 in UTC", (name,)) from None
    return dt


class Searcher:
    """Search and history, on the registry and repository the server was given."""

    def __init__(self, registry: SearchParamRegistry, repo: ResourceRepository, limits: Limits) -> None:
        self.registry = registry
        self.repo = repo
        self.limits = limits
        # Set by the server when a guard is wired: hides what the caller may not see.
        self.filter_for: Callable[[Connection, FhirRequest], AccessFilter | None] | None = None

    def search(self, conn: Connection, req: FhirRequest, res_type: str | None) -> FhirResponse:
        """Run a type (or system, with `_type`) search and return a searchset Bundle."""
        strict = req.prefer("handling") == "strict"
        query = engine.parse_query(
            res_type, _query_of(req), self.registry, strict=strict,
            default_count=self.limits.default_page_size, max_count=self.limits.max_page_size,
            base_url=req.base_url,
        )
        restrict = self.filter_for(conn, req) if self.filter_for is not None else None
        page = engine.run_search(conn, query, self.registry, restrict=restrict)
        path = f"{req.base_url}/{res_type}" if res_type else req.base_url
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "id": new_id(),
            "meta": {"lastUpdated": instant(utcnow())},
            "type": "searchset",
        }
        if page.total is not None:
            bundle["total"] = page.total
        links = [{"relation": "self", "url": _link(path, query.link_params(None))}]
        if page.next_cursor:
            links.append({"relation": "next", "url": _link(path, query.link_params(page.next_cursor))})
        if page.prev_cursor:
            links.append({"relation": "previous", "url": _link(path, query.link_params(page.prev_cursor))})
        bundle["link"] = links
        entries: list[dict[str, Any]] = []
        for mode, rows in (("match", page.matches), ("include", page.included)):
            for r_type, r_id, content in rows:
                entries.append({
                    "fullUrl": f"{req.base_url}/{r_type}/{r_id}",
                    "resource": Raw(engine.present(content, query.summary, query.elements)),
                    "search": {"mode": mode},
                })
        if page.warnings:
            entries.append({"resource": operation_outcome(page.warnings), "search": {"mode": "outcome"}})
        if entries:
            bundle["entry"] = entries
        return FhirResponse(200, bundle)

    def history(self, conn: Connection, req: FhirRequest, res_type: str | None,
                res_id: str | None) -> FhirResponse:
        """Return a history Bundle, newest first, paged by the global version key."""
        params = dict(req.query)
        count = self._count(params.get("_count"))
        since = parse_fhir_instant(params["_since"], "_since") if params.get("_since") else None
        before = params.get(_HISTORY_CURSOR)
        if before is not None and not before.isdigit():
            raise BadRequest(f"{_HISTORY_CURSOR} must be a cursor from a next link", (_HISTORY_CURSOR,))
        if res_id is not None and res_type is not None and self.repo.read(conn, res_type, res_id) is None:
            from fhir_api.outcomes import NotFound

            raise NotFound(f"{res_type}/{res_id} is not known")
        rows = self.repo.history(conn, res_type, res_id, since=since,
                                 before_vid=int(before) if before else None, count=count + 1)
        more = len(rows) > count
        rows = rows[:count]
        path = "/".join(p for p in (req.base_url, res_type, res_id, "_history") if p)
        keep = [(k, v) for k, v in req.query if k != _HISTORY_CURSOR]
        links = [{"relation": "self", "url": _link(path, list(req.query))}]
        if more and rows:
            links.append({"relation": "next", "url": _link(path, [*keep, (_HISTORY_CURSOR, str(rows[-1][0]))])})
        entries = []
        for _vid, st, method in rows:
            url = f"{st.res_type}/{st.res_id}"
            entry: dict[str, Any] = {"fullUrl": f"{req.base_url}/{url}"}
            if st.content is not None:
                entry["resource"] = Raw(st.content)
            entry["request"] = {
                "method": {"create": "POST", "update": "PUT", "delete": "DELETE"}[method],
                "url": url if method == "create" else f"{url}",
            }
            entry["response"] = {
                "status": {"create": "201 Created", "update": "200 OK", "delete": "204 No Content"}[method],
                "etag": st.etag,
                "lastModified": instant(st.last_updated),
            }
            entries.append(entry)
        bundle: dict[str, Any] = {
            "resourceType": "Bundle", "id": new_id(),
            "meta": {"lastUpdated": instant(utcnow())}, "type": "history", "link": links,
        }
        if entries:
            bundle["entry"] = entries
        return FhirResponse(200, bundle)

    def _count(self, raw: str | None) -> int:
        if raw is None:
            return self.limits.default_page_size
        if not raw.isdigit():
            raise BadRequest(f"_count must be a whole number, not '{raw}'", ("_count",))
        return max(1, min(int(raw), self.limits.max_page_size))


def _link(path: str, params: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(params)}" if params else path
