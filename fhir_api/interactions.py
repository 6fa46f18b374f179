"""Carry out the instance and type interactions: create, read, vread, update, patch, delete.

Each function works inside the unit of work it is handed and never commits, so a transaction
Bundle can run many of them in one database transaction. Conditional forms use the search
engine in strict mode: a condition the server cannot understand must never match everything.
https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonpatch
from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import (
    BadRequest,
    Gone,
    NotFound,
    PreconditionFailed,
    Unprocessable,
    UnsupportedMediaType,
    information,
)
from fhir_api.store.repository import ResourceRepository, Stored
from fhir_api.validation import validate_resource

# Versions are 32-bit integers in the store; a larger number cannot name one.
MAX_VERSION = 2**31 - 1
ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")


def check_id(res_id: str) -> None:
    """Refuse a logical id that R4 does not allow (1–64 of A-Z a-z 0-9 - .)."""
    if not 1 <= len(res_id) <= 64 or not set(res_id) <= ID_CHARS:
        raise BadRequest(f"'{res_id[:80]}' is not a valid id (1-64 of A-Z a-z 0-9 - .)", ("id",))


def parse_etag(value: str) -> int:
    """Read a version number from an ETag such as W/"3"."""
    raw = value.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"')
    if not raw.isdigit():
        raise BadRequest(f"If-Match '{value}' is not a version ETag like W/\"3\"", ("If-Match",))
    return int(raw)


def version_headers(stored: Stored, base_url: str, *, location: bool = False) -> dict[str, str]:
    """Return ETag, Last-Modified and, for writes, the versioned Location."""
    headers = {"ETag": stored.etag, "Last-Modified": stored.last_modified}
    if location:
        headers["Location"] = (
            f"{base_url}/{stored.res_type}/{stored.res_id}/_history/{stored.version_id}"
        )
    return headers


def written(req: FhirRequest, stored: Stored, status: int) -> FhirResponse:
    """Answer a write as the client's `Prefer: return=` asks."""
    headers = version_headers(stored, req.base_url, location=True)
    wanted = req.prefer("return")
    if wanted == "minimal":
        return FhirResponse(status, None, headers)
    if wanted == "operationoutcome":
        verb = "Created" if status == 201 else "Updated"
        return FhirResponse(status, information(f"{verb} {stored.res_type}/{stored.res_id}"), headers)
    return FhirResponse(status, stored.content, headers)


@dataclass
class Matcher:
    """Find the rids and ids that a conditional request's search matches."""

    find: Any  # (conn, res_type, params) -> list[tuple[int, str]]

    def ids(self, conn: Connection, res_type: str, params: list[tuple[str, str]]) -> list[str]:
        """Return the logical ids of the current resources that match."""
        if not [p for p in params if not p[0].startswith("_format")]:
            raise BadRequest("A conditional request needs search parameters", (res_type,))
        return [res_id for _rid, res_id in self.find(conn, res_type, params)]


class Interactions:
    """The RESTful interactions on one unit of work."""

    def __init__(self, repo: ResourceRepository, matcher: Matcher) -> None:
        self.repo = repo
        self.matcher = matcher

    def current(self, conn: Connection, res_type: str, res_id: str) -> Stored:
        """Return the live resource, 404 if it never existed, 410 if it was deleted."""
        stored = self.repo.read(conn, res_type, res_id)
        if stored is None:
            raise NotFound(f"{res_type}/{res_id} is not known", (f"{res_type}/{res_id}",))
        if stored.deleted:
            raise Gone(f"{res_type}/{res_id} was deleted", (f"{res_type}/{res_id}",),
                       headers={"ETag": stored.etag})
        return stored

    def read(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
        """Return the current version, honouring If-None-Match and If-Modified-Since."""
        stored = self.current(conn, res_type, res_id)
        headers = version_headers(stored, req.base_url)
        if (inm := req.header("if-none-match")) and inm.strip() in (stored.etag, f'"{stored.version_id}"'):
            return FhirResponse(304, None, headers)
        return FhirResponse(200, stored.content, headers)

    def vread(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str, vid: str) -> FhirResponse:
        """Return one version of a resource."""
        if not vid.isdigit() or int(vid) > MAX_VERSION:
            raise NotFound(f"Version '{vid[:20]}' is not a version number this server has", ("_history",))
        stored = self.repo.vread(conn, res_type, res_id, int(vid))
        if stored is None:
            raise NotFound(f"{res_type}/{res_id}/_history/{vid} is not known")
        if stored.deleted:
            raise Gone(f"{res_type}/{res_id} version {vid} is a deletion")
        return FhirResponse(200, stored.content, version_headers(stored, req.base_url))

    def create(self, conn: Connection, req: FhirRequest, res_type: str,
               assigned_id: str | None = None) -> tuple[FhirResponse, Stored]:
        """Create with a server id; with If-None-Exist, return the match instead."""
        resource = validate_resource(req.body, res_type)
        if cond := req.header("if-none-exist"):
            from urllib.parse import parse_qsl

            found = self.matcher.ids(conn, res_type, parse_qsl(cond.lstrip("?"), keep_blank_values=True))
            if len(found) > 1:
                raise PreconditionFailed(
                    f"If-None-Exist '{cond}' matches {len(found)} resources", ("If-None-Exist",)
                )
            if found:
                stored = self.current(conn, res_type, found[0])
                return FhirResponse(200, stored.content, version_headers(stored, req.base_url, location=True)), stored
        stored = self.repo.create(conn, resource, assigned_id)
        return written(req, stored, 201), stored

    def update(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str) -> tuple[FhirResponse, Stored]:
        """Update, or create with the client's id; If-Match guards against lost updates."""
        check_id(res_id)
        resource = validate_resource(req.body, res_type)
        body_id = resource.get("id")
        if body_id is None:
            raise BadRequest("An update must carry the resource's id in the body", ("id",))
        if body_id != res_id:
            raise BadRequest(f"The body's id '{body_id}' does not match the URL's '{res_id}'", ("id",))
        current = self.repo.read(conn, res_type, res_id)
        if_match = req.header("if-match")
        if current is None:
            if if_match:
                raise PreconditionFailed(f"{res_type}/{res_id} does not exist, so If-Match cannot hold")
            stored = self.repo.create(conn, resource, res_id)
            return written(req, stored, 201), stored
        if if_match and parse_etag(if_match) != current.version_id:
            raise PreconditionFailed(
                f"{res_type}/{res_id} is at version {current.version_id}, not {parse_etag(if_match)}",
                ("If-Match",),
            )
        stored = self.repo.update(conn, current, resource)
        return written(req, stored, 201 if current.deleted else 200), stored

    def conditional_update(self, conn: Connection, req: FhirRequest, res_type: str) -> tuple[FhirResponse, Stored]:
        """Update the one resource the query matches, or create when none does."""
        found = self.matcher.ids(conn, res_type, req.query)
        if len(found) > 1:
            raise PreconditionFailed(f"The condition matches {len(found)} resources; it must match one")
        body = req.body
        if not found:
            resource = validate_resource(body, res_type)
            res_id = resource.get("id")
            if res_id is not None:
                check_id(res_id)
                if self.repo.read(conn, res_type, res_id) is not None:
                    raise PreconditionFailed(f"No match, and {res_type}/{res_id} is another resource")
            stored = self.repo.create(conn, resource, res_id)
            return written(req, stored, 201), stored
        if isinstance(body, dict) and body.get("id") is None:
            body["id"] = found[0]
        return self.update(conn, req, res_type, found[0])

    def patch(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str) -> tuple[FhirResponse, Stored]:
        """Apply a JSON Patch to the current version and store the result as a new version."""
        if "json-patch" not in req.content_type:
            raise UnsupportedMediaType("PATCH takes application/json-patch+json", ("Content-Type",))
        current = self.current(conn, res_type, res_id)
        if (if_match := req.header("if-match")) and parse_etag(if_match) != current.version_id:
            raise PreconditionFailed(f"{res_type}/{res_id} is at version {current.version_id}")
        if not isinstance(req.body, list):
            raise BadRequest("A JSON Patch document is a JSON array of operations")
        try:
            patched = jsonpatch.JsonPatch(req.body).apply(current.json())
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise Unprocessable(f"The patch cannot be applied: {exc}", issue_code="processing") from None
        if patched.get("id") != res_id or patched.get("resourceType") != res_type:
            raise Unprocessable("A patch may not change the resource's type or id", ("id",))
        stored = self.repo.update(conn, current, validate_resource(patched, res_type))
        return written(req, stored, 200), stored

    def delete(self, conn: Connection, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
        """Delete; deleting what is already gone or never was is not an error."""
        current = self.repo.read(conn, res_type, res_id)
        if current is None or current.deleted:
            return FhirResponse(204)
        stored = self.repo.delete(conn, current)
        return FhirResponse(200, information(f"Deleted {res_type}/{res_id}"), {"ETag": stored.etag})

    def conditional_delete(self, conn: Connection, req: FhirRequest, res_type: str) -> FhirResponse:
        """Delete the one resource the query matches."""
        found = self.matcher.ids(conn, res_type, req.query)
        if len(found) > 1:
            raise PreconditionFailed(f"The condition matches {len(found)} resources; it must match one")
        if not found:
            return FhirResponse(204)
        return self.delete(conn, req, res_type, found[0])
