"""Resolve the references inside a transaction before any entry is written.

Entries refer to each other by `fullUrl` (usually `urn:uuid:`) and to stored resources by
search (`Patient?identifier=…`). Both are replaced with real `Type/id` references; anything
that resolves to nothing fails the transaction with the entry and element that named it.
https://hl7.org/fhir/R4/bundle.html#references
https://hl7.org/fhir/R4/http.html#trules
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from fhir_api.messages import FhirRequest
from fhir_api.outcomes import BadRequest, PreconditionFailed
from fhir_api.resource_types import R4_RESOURCE_TYPES
from fhir_api.store.repository import new_id

if TYPE_CHECKING:
    from fhir_api.server import FhirServer


def iter_references(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Yield every Reference-like object (a dict with a string `reference`) and its path."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node, path
        for key, value in node.items():
            if key == "contained":
                continue
            yield from iter_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from iter_references(value, f"{path}[{n}]")


def relative_target(reference: str) -> tuple[str, str] | None:
    """Return (type, id) of a relative reference such as `Patient/1` or `Patient/1/_history/2`."""
    parts = reference.split("/")
    if len(parts) in (2, 4) and parts[0] in R4_RESOURCE_TYPES and (len(parts) == 2 or parts[2] == "_history"):
        return parts[0], parts[1]
    return None


class ReferenceResolver:
    """Map fullUrls and conditional references to ids for one transaction."""

    def __init__(self, server: FhirServer, conn: Connection) -> None:
        self.server = server
        self.conn = conn
        self.by_full_url: dict[str, str] = {}
        self.assigned: dict[int, str] = {}
        self.written: set[tuple[str, str]] = set()
        self.to_check: list[tuple[int, str, str, str]] = []

    def claim_identity(self, index: int, full_url: Any, req: FhirRequest) -> None:
        """Decide the id an entry's resource will have and remember its fullUrl for it."""
        segs = req.segments
        if not segs or segs[0] not in R4_RESOURCE_TYPES:
            return
        res_type = segs[0]
        target: str | None = None
        if req.method == "POST" and len(segs) == 1:
            if cond := req.header("if-none-exist"):
                from urllib.parse import parse_qsl

                found = self.server.matcher.ids(self.conn, res_type, parse_qsl(cond, keep_blank_values=True))
                if len(found) > 1:
                    raise PreconditionFailed(
                        f"Bundle.entry[{index}]: ifNoneExist '{cond}' matches {len(found)} resources"
                    )
                if found:
                    target = found[0]
            if target is None:
                target = new_id()
                self.assigned[index] = target
                self.written.add((res_type, target))
        elif req.method == "PUT" and len(segs) == 2:
            target = segs[1]
            self.written.add((res_type, target))
        elif req.method == "PUT" and len(segs) == 1:
            found = self.server.matcher.ids(self.conn, res_type, req.query)
            if len(found) == 1:
                target = found[0]
            elif not found and isinstance(req.body, dict):
                target = req.body.get("id") or new_id()
                req.body["id"] = target
                self.written.add((res_type, target))
        if target is not None and isinstance(full_url, str) and full_url:
            self.by_full_url[full_url] = f"{res_type}/{target}"

    def rewrite(self, index: int, resource: dict[str, Any]) -> None:
        """Replace fullUrl and conditional references in one entry's resource."""
        for ref, path in iter_references(resource, f"Bundle.entry[{index}].resource"):
            value: str = ref["reference"]
            if value in self.by_full_url:
                ref["reference"] = self.by_full_url[value]
            elif value.startswith(("urn:uuid:", "urn:oid:")):
                raise BadRequest(f"{path}: '{value}' is not the fullUrl of any entry in this Bundle", (path,),
                                 issue_code="not-found")
            elif "?" in value and not value.startswith("#"):
                ref["reference"] = self._conditional(value, path)
            target = relative_target(ref["reference"])
            if target is not None:
                self.to_check.append((index, path, *target))

    def _conditional(self, value: str, path: str) -> str:
        from fhir_api.bundles import split_conditional

        res_type, query = split_conditional(value) or ("", [])
        found = self.server.matcher.ids(self.conn, res_type, query)
        if len(found) != 1:
            raise PreconditionFailed(
                f"{path}: conditional reference '{value}' matches {len(found)} resources; it must match one",
                (path,),
            )
        return f"{res_type}/{found[0]}"

    def check_targets(self) -> None:
        """Fail the transaction if a reference points at a resource that does not exist."""
        for _index, path, res_type, res_id in self.to_check:
            if (res_type, res_id) in self.written:
                continue
            stored = self.server.repo.read(self.conn, res_type, res_id)
            if stored is None or stored.deleted:
                raise BadRequest(f"{path}: {res_type}/{res_id} does not exist", (path,), issue_code="not-found")
