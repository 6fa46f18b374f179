"""Read the small bodies and queries of the authorization server's endpoints and pages, strictly.

Why: every body here is a handful of form parameters, so none is buffered beyond a small bound,
and a parameter sent twice is refused rather than one of its values picked (RFC 6749 §3.1).
https://www.rfc-editor.org/rfc/rfc6749#section-3.1
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_BODY_BYTES = 64 * 1024


class DuplicateParameter(ValueError):
    """A parameter sent twice, which RFC 6749 §3.1 forbids."""


def single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Return the pairs as a dict; raise DuplicateParameter if a name comes twice."""
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in out:
            raise DuplicateParameter(f"parameter {name!r} was sent more than once")
        out[name] = value
    return out


async def read_body(request: Request) -> bytes:
    """Return the body; raise ValueError past MAX_BODY_BYTES instead of buffering megabytes."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ValueError(f"the body is over {MAX_BODY_BYTES} bytes")
    return raw


async def read_form(request: Request) -> dict[str, str]:
    """Return a form body's parameters; raise ValueError for another media type, size or a repeat."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise ValueError("the body must be application/x-www-form-urlencoded")
    return single(parse_qsl((await read_body(request)).decode("utf-8", "replace"), keep_blank_values=True))
