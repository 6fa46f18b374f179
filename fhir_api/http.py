"""Serve the FHIR core over HTTP: formats, content negotiation and errors, nothing else.

JSON and XML are read and written here, so the core only ever sees dicts. Every error leaves
through `outcomes`; an unexpected exception becomes a 500 with a correlation id in the body
and the traceback in the log, never in the response.
https://hl7.org/fhir/R4/http.html#mime-type
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import (
    BadRequest,
    FhirError,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
    internal_error,
)
from fhir_api.raw import dumps, materialize
from fhir_api.server import FhirServer

log = logging.getLogger("ingang.fhir")

JSON_TYPE = "application/fhir+json"
XML_TYPE = "application/fhir+xml"
_FORMATS = {
    "json": JSON_TYPE, "application/json": JSON_TYPE, "application/fhir+json": JSON_TYPE,
    "xml": XML_TYPE, "text/xml": XML_TYPE, "application/xml": XML_TYPE, "application/fhir+xml": XML_TYPE,
    "html": JSON_TYPE, "text/html": JSON_TYPE,
}


# C0 controls but tab, line feed and carriage return: no FHIR string may hold one.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# How JSON text spells them; a cheap test before the parsed body is walked.
_ESCAPED_CONTROL = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|[bf])")


def response_format(request: Request) -> str:
    """Choose JSON or XML from `_format`, then Accept; JSON when nothing says otherwise."""
    fmt = request.query_params.get("_format")
    if fmt:
        chosen = _FORMATS.get(fmt.split(";")[0].strip().lower())
        if chosen is None:
            raise NotAcceptable(f"_format '{fmt}' is not supported; use json or xml", ("_format",))
        return chosen
    accept = request.headers.get("accept", "")
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in _FORMATS:
            return _FORMATS[media]
    return JSON_TYPE


def parse_body(raw: bytes, content_type: str) -> Any:
    """Parse a request body by its Content-Type; say where a malformed one breaks."""
    media = content_type.split(";")[0].strip().lower()
    if not raw:
        return None
    if media in ("", "application/fhir+json", "application/json", "application/json-patch+json"):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno}", ("body",), issue_code="structure") from None
        if _ESCAPED_CONTROL.search(raw) and (where := control_path(parsed, "")) is not None:
            # FHIR strings may not hold them, XML cannot carry them, PostgreSQL stores no NUL.
            raise BadRequest(f"{where or 'The body'} holds a control character; FHIR strings hold none "
                             "below U+0020 but tab, carriage return and line feed", (where or "body",),
                             issue_code="value")
        return parsed
    if media in ("application/fhir+xml", "application/xml", "text/xml"):
        from fhir_api.formats import FormatError
        from fhir_api.formats.xml import xml_to_json

        try:
            return xml_to_json(raw)
        except FormatError as exc:
            raise BadRequest(f"The body is not valid FHIR XML: {exc}", (exc.location,),
                             issue_code="structure") from None
    if media == "application/x-www-form-urlencoded":
        return raw.decode("utf-8", errors="replace")
    raise UnsupportedMediaType(f"Content-Type '{media}' is not supported; send application/fhir+json "
                               "or application/fhir+xml", ("Content-Type",))


def control_path(node: Any, path: str) -> str | None:
    """Return where in parsed JSON a string (or key) holds a forbidden control character, or None.

    https://hl7.org/fhir/R4/datatypes.html#string
    """
    if isinstance(node, str):
        return path if CONTROL_CHARS.search(node) else None
    if isinstance(node, dict):
        for key, value in node.items():
            if CONTROL_CHARS.search(key):
                return path
            found = control_path(value, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = control_path(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def render(body: Any, media: str, pretty: bool) -> bytes:
    """Serialise a body as JSON or XML."""
    if media == XML_TYPE:
        from fhir_api.formats.xml import json_to_xml

        return json_to_xml(materialize(body), pretty=pretty)
    return dumps(body, pretty=pretty)


class FhirEndpoint:
    """The ASGI-facing side of one `FhirServer`, mounted under a path such as `/fhir`."""

    def __init__(self, server: FhirServer, *, mount: str = "/fhir", base_url: str = "",
                 max_body_bytes: int = 10 * 1024 * 1024) -> None:
        self.server = server
        self.mount = mount
        self.base_url = base_url.rstrip("/")
        self.max_body_bytes = max_body_bytes

    def _base(self, request: Request) -> str:
        if self.base_url:
            return self.base_url
        return f"{request.url.scheme}://{request.url.netloc}{self.mount}"

    async def respond(self, request: Request) -> Response:
        """Handle one HTTP request end to end."""
        media = JSON_TYPE
        pretty = False
        try:
            pretty = request.query_params.get("_pretty") == "true"
            media = response_format(request)
            fhir_req = await self.to_fhir_request(request)
            result = await run_in_threadpool(self.server.handle, fhir_req)
            return self.to_http(result, media, pretty, head=request.method == "HEAD")
        except FhirError as exc:
            return self.error_response(FhirResponse(exc.status, exc.outcome(), exc.headers), media, pretty)
        except Exception:
            correlation, outcome = internal_error()
            log.exception("internal error, correlation id %s", correlation)
            return self.error_response(FhirResponse(500, outcome), media, pretty)

    def error_response(self, result: FhirResponse, media: str, pretty: bool) -> Response:
        """Write an error in the asked format; if even that fails, as a JSON 500 outcome.

        The XML writer can refuse what an outcome quotes (a control character from the URL,
        say); the client must still get an OperationOutcome, not the framework's plain text.
        """
        try:
            return self.to_http(result, media, pretty)
        except Exception:
            correlation, outcome = internal_error()
            log.exception("internal error while writing an error response, correlation id %s", correlation)
            return Response(content=dumps(outcome), status_code=500,
                            media_type=f"{JSON_TYPE}; charset=utf-8")

    async def to_fhir_request(self, request: Request) -> FhirRequest:
        """Read an HTTP request into the core's request type."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"The body is over {self.max_body_bytes} bytes")
        raw = await request.body()
        if len(raw) > self.max_body_bytes:
            raise PayloadTooLarge(f"The body is over {self.max_body_bytes} bytes")
        content_type = request.headers.get("content-type", "")
        body = parse_body(raw, content_type) if request.method in ("POST", "PUT", "PATCH") else None
        path = request.url.path[len(self.mount):] if request.url.path.startswith(self.mount) else request.url.path
        return FhirRequest(
            method=request.method,
            path=path.strip("/"),
            query=list(request.query_params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            base_url=self._base(request),
            content_type=content_type.split(";")[0].strip().lower() or JSON_TYPE,
        )

    def to_http(self, result: FhirResponse, media: str, pretty: bool, head: bool = False) -> Response:
        """Write the core's response as HTTP."""
        headers = dict(result.headers)
        if result.body is None or result.status == 304:
            return Response(status_code=result.status, headers=headers)
        content = render(result.body, media, pretty)
        return Response(content=b"" if head else content, status_code=result.status, headers=headers,
                        media_type=f"{media}; charset=utf-8")
