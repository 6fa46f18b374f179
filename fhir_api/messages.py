"""Describe a FHIR interaction as plain data, apart from any web framework.

The HTTP layer turns a request into a `FhirRequest`; a transaction Bundle turns each entry
into one too, so every interaction runs through the same code whichever way it arrived.
https://hl7.org/fhir/R4/http.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class FhirRequest:
    """One interaction: method, path below the FHIR base, query, headers and parsed body."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    base_url: str = ""
    content_type: str = "application/fhir+json"
    # Who is asking, as the guard authenticated them; None when anonymous or unguarded.
    caller: Any = None

    @classmethod
    def from_url(cls, method: str, url: str, **kwargs: Any) -> FhirRequest:
        """Build a request from a relative URL such as `Patient?identifier=x`."""
        parts = urlsplit(url)
        return cls(
            method=method.upper(),
            path=parts.path.strip("/"),
            query=parse_qsl(parts.query, keep_blank_values=True),
            **kwargs,
        )

    def header(self, name: str) -> str | None:
        """Return a header's value by lower-case name."""
        return self.headers.get(name)

    @property
    def segments(self) -> list[str]:
        """Return the path split on '/', without empty parts."""
        return [s for s in self.path.split("/") if s]

    def prefer(self, key: str) -> str | None:
        """Return one directive of the Prefer header, e.g. `return` or `handling`."""
        raw = self.header("prefer") or ""
        for part in raw.split(";") if ";" in raw else raw.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == key:
                return value.strip().strip('"').lower()
        return None


@dataclass
class FhirResponse:
    """The result: status, headers and a body that is a dict or already-serialised JSON text."""

    status: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any] | None:
        """Return the body as plain dicts, parsing any stored text in it."""
        from fhir_api.raw import materialize

        parsed: dict[str, Any] | None = materialize(self.body)
        return parsed
