"""Process batch and transaction Bundles posted to the base URL.

A transaction is all or nothing: its entries run in the spec's order (DELETE, POST, PUT and
PATCH, GET) on one connection, `urn:uuid:` and conditional references are resolved first,
and any failure rolls the whole of it back and names the entry. A batch runs each entry in
its own unit of work and reports each one's outcome.
https://hl7.org/fhir/R4/http.html#transaction
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, FhirError, PayloadTooLarge, PreconditionFailed, internal_error
from fhir_api.raw import materialize
from fhir_api.resource_types import R4_RESOURCE_TYPES
from fhir_api.store.repository import instant, new_id

if TYPE_CHECKING:
    from fhir_api.server import FhirServer

log = logging.getLogger("ingang.fhir")

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def _entry_request(server_req: FhirRequest, entry: Any, index: int) -> FhirRequest:
    """Turn a Bundle entry into a request, or say which entry is malformed."""
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise BadRequest(f"{where} is not an object", (where,))
    request = entry.get("request")
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise BadRequest(f"{where}.request needs a method and a url", (f"{where}.request",))
    method = str(request["method"]).upper()
    if method not in _ORDER:
        raise BadRequest(f"{where}.request.method '{method}' is not supported", (f"{where}.request.method",))
    url = str(request["url"])
    if url.startswith(server_req.base_url + "/") and server_req.base_url:
        url = url[len(server_req.base_url) + 1:]
    headers = {
        name.lower(): str(request[key])
        for key, name in (("ifMatch", "If-Match"), ("ifNoneMatch", "If-None-Match"),
                          ("ifNoneExist", "If-None-Exist"), ("ifModifiedSince", "If-Modified-Since"))
        if request.get(key)
    }
    if prefer := server_req.header("prefer"):
        headers["prefer"] = prefer
    body: Any = entry.get("resource")
    content_type = "application/fhir+json"
    if method == "PATCH":
        body, content_type = _patch_body(body, where)
    elif method in ("POST", "PUT") and body is None and "$" not in url:
        raise BadRequest(f"{where} has no resource to {method}", (f"{where}.resource",))
    try:
        req = FhirRequest.from_url(method, url, headers=headers, body=body, base_url=server_req.base_url,
                                   content_type=content_type)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise BadRequest(f"{where}.request.url is not a URL", (f"{where}.request.url",)) from None
    req.caller = server_req.caller
    return req


def _patch_body(resource: Any, where: str) -> tuple[Any, str]:
    """Read a JSON Patch carried as a Binary, the way R4 Bundles carry one."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary":
        raise BadRequest(f"{where}: a PATCH entry carries its JSON Patch in a Binary", (f"{where}.resource",))
    try:
        return orjson.loads(base64.b64decode(resource.get("data", ""), validate=True)), (
            "application/json-patch+json"
        )
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise BadRequest(f"{where}: the Binary does not hold a JSON Patch document", (f"{where}.resource.data",)) from None


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _response_entry(resp: FhirResponse) -> dict[str, Any]:
    """Describe one entry's result as Bundle.entry.response (+ resource)."""
    response: dict[str, Any] = {"status": _status_line(resp.status)}
    if loc := resp.headers.get("Location"):
        response["location"] = loc
    if etag := resp.headers.get("ETag"):
        response["etag"] = etag
    if modified := resp.headers.get("Last-Modified"):
        response["lastModified"] = instant(parsedate_to_datetime(modified).replace(tzinfo=None))
    entry: dict[str, Any] = {"response": response}
    if resp.body is not None:
        body = materialize(resp.body)
        if body.get("resourceType") == "OperationOutcome" and resp.status >= 400:
            response["outcome"] = body
        else:
            entry["resource"] = body
    return entry


def _error_entry(exc: FhirError) -> dict[str, Any]:
    return {"response": {"status": _status_line(exc.status), "outcome": exc.outcome()}}


def _check_bundle(server: FhirServer, body: Any) -> tuple[str, list[Any]]:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction", ("Bundle",))
    kind = body.get("type")
    if kind not in ("batch", "transaction"):
        raise BadRequest(f"Bundle.type must be batch or transaction, not '{kind}'", ("Bundle.type",))
    entries = body.get("entry") or []
    if not isinstance(entries, list):
        raise BadRequest("Bundle.entry must be a list", ("Bundle.entry",))
    limit = server.limits.bundle_max_entries
    if len(entries) > limit:
        raise PayloadTooLarge(
            f"The Bundle has {len(entries)} entries; this server takes at most {limit}", ("Bundle.entry",)
        )
    return kind, entries


def process_bundle(server: FhirServer, req: FhirRequest) -> FhirResponse:
    """Run a batch or transaction Bundle and return its response Bundle."""
    kind, entries = _check_bundle(server, req.body)
    if kind == "batch":
        out = []
        for i, entry in enumerate(entries):
            try:
                sub = _entry_request(req, entry, i)
                out.append(_response_entry(server.handle(sub)))
            except FhirError as exc:
                out.append(_error_entry(exc))
            except Exception:
                # Earlier entries are committed already: this entry fails alone, as a 500
                # that names a correlation id and nothing of the exception, and the batch goes on.
                correlation, outcome = internal_error()
                log.exception("internal error in Bundle.entry[%d], correlation id %s", i, correlation)
                out.append({"response": {"status": _status_line(500), "outcome": outcome}})
        return _bundle("batch-response", out)
    requests = [_entry_request(req, e, i) for i, e in enumerate(entries)]
    with server.unit_of_work(True) as conn:
        results = _run_transaction(server, conn, entries, requests)
    return _bundle("transaction-response", [_response_entry(r) for r in results])


def _bundle(kind: str, entries: list[dict[str, Any]]) -> FhirResponse:
    body = {"resourceType": "Bundle", "id": new_id(), "type": kind, "entry": entries}
    return FhirResponse(200, body)


def _run_transaction(
    server: FhirServer, conn: Connection, entries: list[Any], requests: list[FhirRequest]
) -> list[FhirResponse]:
    from fhir_api.references import ReferenceResolver

    resolver = ReferenceResolver(server, conn)
    for i, (entry, sub) in enumerate(zip(entries, requests, strict=True)):
        resolver.claim_identity(i, entry.get("fullUrl"), sub)
    for i, sub in enumerate(requests):
        if sub.method in ("POST", "PUT") and isinstance(sub.body, dict):
            resolver.rewrite(i, sub.body)
    results: list[FhirResponse | None] = [None] * len(requests)
    for i in sorted(range(len(requests)), key=lambda k: _ORDER[requests[k].method]):
        sub = requests[i]
        try:
            if sub.method == "POST" and len(sub.segments) == 1 and sub.segments[0] in R4_RESOURCE_TYPES:
                resp = server.guarded(conn, sub, functools.partial(
                    _create_with_id, server, conn, sub, resolver.assigned.get(i)))
            else:
                resp = server.dispatch(conn, sub)
        except FhirError as exc:
            raise _at_entry(exc, i) from None
        results[i] = resp
    resolver.check_targets()
    return [r for r in results if r is not None]


def _create_with_id(server: FhirServer, conn: Connection, sub: FhirRequest, res_id: str | None) -> FhirResponse:
    """Create an entry's resource under the id the transaction assigned it."""
    return server.interactions.create(conn, sub, sub.segments[0], res_id)[0]


def _at_entry(exc: FhirError, index: int) -> FhirError:
    """Say which entry failed, keeping the original status."""
    prefix = f"Bundle.entry[{index}]"
    exc.diagnostics = f"{prefix}: {exc.diagnostics}"
    for n, issue in enumerate(exc.issues):
        exc.issues[n] = type(issue)(issue.code, f"{prefix}: {issue.diagnostics}", issue.severity,
                                    issue.expression or (prefix,))
    return exc


def split_conditional(reference: str) -> tuple[str, list[tuple[str, str]]] | None:
    """Split a conditional reference such as `Patient?identifier=x` into type and query."""
    if "?" not in reference:
        return None
    path, _, query = reference.partition("?")
    res_type = urlsplit(path).path.strip("/")
    if res_type not in R4_RESOURCE_TYPES:
        raise PreconditionFailed(f"Conditional reference '{reference}' names no known type")
    return res_type, parse_qsl(query, keep_blank_values=True)
