"""Serve the photo doors over HTTP: the multipart upload, and the FHIR creates that carry an image.

`PhotoAttachments` (hub/photo_wiring.py) does the work; this module reads bodies within the
photo limit before anything is parsed, tells a photo from any other Binary or Media (those go
on to the FHIR endpoint untouched), and answers as the FHIR endpoint does: JSON or XML, every
error an OperationOutcome. A citizen's Bundle may not carry photos past the cleaning: a Binary
or a Media with inline data inside one is refused, with the doors to use instead.
https://hl7.org/fhir/R4/binary.html#rest, https://hl7.org/fhir/R4/http.html#transaction
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

from cases.principals import Citizen, Guardian
from communication.image_resources import (
    PhotoInputError,
    decoded_data,
    encounter_id,
    has_inline_data,
    media_photo,
)
from communication.photos import PhotoLimits, PhotoRefused
from fhir_api.http import JSON_TYPE, XML_TYPE, FhirEndpoint, parse_body, response_format
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, FhirError, PayloadTooLarge, Unprocessable, internal_error
from hub.photo_wiring import PhotoAttachments, PhotoRequest, refusal, worded

log = logging.getLogger("ingang.photos")

FHIR_BODY_TYPES = frozenset({JSON_TYPE, XML_TYPE, "application/json", "application/xml", "text/xml"})
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small text fields


async def read_capped(request: Request, cap: int, refuse: Callable[[], FhirError]) -> bytes:
    """Read a request body, refusing it as soon as it is known to be over `cap` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise refuse()
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            raise refuse()
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(request: Request, body: bytes) -> Request:
    """Return the request again with its body already read, for the FHIR endpoint to handle."""
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


class PhotoRoutes:
    """The HTTP side: the multipart upload and the two FHIR doors in front of the FHIR endpoint."""

    def __init__(self, attachments: PhotoAttachments, fhir: FhirEndpoint, limits: PhotoLimits) -> None:
        self.attachments, self.fhir, self.limits = attachments, fhir, limits

    def _base(self, request: Request) -> str:
        return self.fhir.base_url or f"{request.url.scheme}://{request.url.netloc}{self.fhir.mount}"

    def _too_large(self) -> FhirError:
        return refusal(PhotoRefused("too-large", "Bilden är för stor. Skicka en mindre bild.",
                                    f"The request is over the photo limit of {self.limits.max_bytes} bytes"))

    async def _answer(self, request: Request, work: Callable[[], Any]) -> Response:
        """Answer as the FHIR endpoint does: JSON or XML, every error an OperationOutcome."""
        media, pretty = JSON_TYPE, request.query_params.get("_pretty") == "true"
        try:
            media = response_format(request)
            result = await work()
            if isinstance(result, Response):
                return result
            return self.fhir.to_http(result, media, pretty)
        except FhirError as exc:
            return self.fhir.to_http(FhirResponse(exc.status, exc.outcome(), exc.headers), media, pretty)
        except PhotoInputError as exc:
            error = BadRequest(exc.message, (exc.location,))
            return self.fhir.to_http(FhirResponse(error.status, error.outcome()), media, pretty)
        except Exception:
            correlation, outcome = internal_error()
            log.exception("internal error, correlation id %s", correlation)
            return self.fhir.to_http(FhirResponse(500, outcome), media, pretty)

    def _attach(self, request: Request, encounter: str, data: bytes, **extra: Any) -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        caller = self.attachments.authenticate(headers)
        photo = PhotoRequest(caller=caller, encounter=encounter, data=data, base_url=self._base(request),
                             prefer=FhirRequest(method="POST", path="", headers=headers).prefer("return"), **extra)
        return run_in_threadpool(self.attachments.attach, photo)

    async def upload(self, request: Request) -> Response:
        """`POST /api/encounters/{id}/photos`: a multipart form with the image in the field `file`."""
        async def work() -> Any:
            body = await read_capped(request, self.limits.max_bytes + MULTIPART_OVERHEAD, self._too_large)
            data = await _file_field(request.headers, body)
            return await self._attach(request, request.path_params["encounter_id"], data)

        return await self._answer(request, work)

    async def binary(self, request: Request) -> Response:
        """`POST /fhir/Binary`: the image as the body, or a Binary resource holding an image."""
        async def work() -> Any:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in FHIR_BODY_TYPES:
                data = await read_capped(request, self.limits.max_bytes, self._too_large)
                context = request.headers.get("x-security-context", "")
                if not context:
                    raise PhotoInputError("Say which case the photo belongs to with the header "
                                          "X-Security-Context: Encounter/<id>", "X-Security-Context")
                encounter = encounter_id(context, self._base(request), "X-Security-Context")
                return await self._attach(request, encounter, data, answer="Binary")
            raw = await read_capped(request, self.fhir.max_body_bytes, self._too_large)
            body = parse_body(raw, content_type)
            if not _is_photo_binary(body, lambda: self._is_citizen(request)):
                return await self.fhir.respond(_replay(request, raw))
            context = (body.get("securityContext") or {}).get("reference") or request.headers.get(
                "x-security-context", "")
            encounter = encounter_id(str(context), self._base(request), "Binary.securityContext")
            return await self._attach(request, encounter, decoded_data(body.get("data"), "Binary.data"),
                                      answer="Binary")

        return await self._answer(request, work)

    async def media(self, request: Request) -> Response:
        """`POST /fhir/Media`: a Media with the picture inline in `content.data`."""
        async def work() -> Any:
            raw = await read_capped(request, self.fhir.max_body_bytes, self._too_large)
            body = parse_body(raw, request.headers.get("content-type", ""))
            if not has_inline_data(body):
                if self._is_citizen(request):
                    raise PhotoInputError("Send the photo inline in Media.content.data, or upload it to "
                                          "/api/encounters/<id>/photos", "Media.content.data")
                return await self.fhir.respond(_replay(request, raw))
            ref, data = media_photo(body)
            encounter = encounter_id(ref, self._base(request), "Media.encounter")
            return await self._attach(request, encounter, data, sent_media=body)

        return await self._answer(request, work)

    async def bundle(self, request: Request) -> Response:
        """`POST /fhir`: a Bundle, passed on unless a citizen tries to send photos inside it."""
        async def work() -> Any:
            cap = self.fhir.max_body_bytes
            raw = await read_capped(request, cap, lambda: PayloadTooLarge(f"The body is over {cap} bytes"))
            if (b"Binary" in raw or b"Media" in raw) and self._is_citizen(request):
                where = _photo_entry(parse_body(raw, request.headers.get("content-type", "")))
                if where is not None:
                    raise worded(Unprocessable, "Bilder kan inte skickas i en samling. Skicka varje bild för sig.",
                                 "A citizen's photos are cleaned on the way in: send each to POST /fhir/Media, "
                                 "POST /fhir/Binary or /api/encounters/{id}/photos, not inside a Bundle", (where,))
            return await self.fhir.respond(_replay(request, raw))

        return await self._answer(request, work)

    def _is_citizen(self, request: Request) -> bool:
        caller = self.attachments.authenticate({k.lower(): v for k, v in request.headers.items()})
        return isinstance(getattr(caller, "principal", None), Citizen | Guardian)


def _is_photo_binary(body: Any, citizen: Callable[[], bool]) -> bool:
    """Tell whether a Binary resource is a photo: any image, and anything a citizen sends."""
    if not isinstance(body, dict) or body.get("resourceType") != "Binary":
        return False
    return str(body.get("contentType", "")).lower().startswith("image/") or citizen()


async def _file_field(headers: Headers, body: bytes) -> bytes:
    """Return the bytes of the multipart field `file`, or say what is wrong with the form."""
    if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise PhotoInputError("Send the photo as multipart/form-data with the image in the field 'file'",
                              "Content-Type")

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        form = await MultiPartParser(headers, stream(), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise PhotoInputError(f"The form could not be read: {exc.message}", "body") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise PhotoInputError("The form has no file in the field 'file'", "file")
        return await upload.read()
    finally:
        await form.close()


def _photo_entry(body: Any) -> str | None:
    """Return where a Bundle carries a Binary or a Media with inline data, or None."""
    entries = body.get("entry") if isinstance(body, dict) and body.get("resourceType") == "Bundle" else None
    for index, entry in enumerate(entries or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind == "Binary" or (kind == "Media" and has_inline_data(resource)):
            return f"Bundle.entry[{index}].resource"
    return None


def mount_photo_routes(app: Any, attachments: PhotoAttachments, fhir: FhirEndpoint, limits: PhotoLimits) -> None:
    """Add the doors to the app; call before the FHIR catch-all route so these are matched first."""
    routes = PhotoRoutes(attachments, fhir, limits)
    app.add_route("/api/encounters/{encounter_id}/photos", routes.upload, methods=["POST"])
    app.add_route("/fhir", routes.bundle, methods=["POST"], include_in_schema=False)
    app.add_route("/fhir/Binary", routes.binary, methods=["POST"], include_in_schema=False)
    app.add_route("/fhir/Media", routes.media, methods=["POST"], include_in_schema=False)
