"""Turn every failure into an OperationOutcome and the one HTTP status that fits it.

This is the only module that decides statuses: routes, operations and the store raise the
errors below and never build an error response themselves. A 500 carries a correlation id
and "internal error", never the exception text, which could hold patient data.
https://hl7.org/fhir/R4/operationoutcome.html
https://hl7.org/fhir/R4/http.html#Status-Codes
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem: what went wrong and where (a FHIRPath expression or a parameter name)."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Render as an OperationOutcome.issue element."""
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


class FhirError(Exception):
    """A failure the client should hear about, with its status and issues."""

    status = 500
    code = "exception"

    def __init__(
        self,
        diagnostics: str,
        expression: Sequence[str] = (),
        *,
        issues: Sequence[Issue] | None = None,
        headers: dict[str, str] | None = None,
        issue_code: str | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.headers = dict(headers or {})
        self.issues = list(issues) if issues else [
            Issue(issue_code or self.code, diagnostics, expression=tuple(expression))
        ]

    def outcome(self) -> dict[str, Any]:
        """Return the OperationOutcome that explains this error."""
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    """The request is malformed: unparseable body, bad parameter, wrong resource type."""

    status = 400
    code = "invalid"


class Unauthorized(FhirError):
    """No valid credentials came with the request."""

    status = 401
    code = "login"


class Forbidden(FhirError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(FhirError):
    """The resource, type or route does not exist (or may not be revealed to the caller)."""

    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    """The interaction is not supported on this path."""

    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    """The client asked for a format the server cannot produce."""

    status = 406
    code = "not-supported"


class Conflict(FhirError):
    """The request clashes with the current state: an illegal step, a duplicate, a race."""

    status = 409
    code = "conflict"


class Gone(FhirError):
    """The resource existed and was deleted."""

    status = 410
    code = "deleted"


class PreconditionFailed(FhirError):
    """A conditional request's condition does not hold (stale If-Match, several matches)."""

    status = 412
    code = "conflict"


class PayloadTooLarge(FhirError):
    """The body, or a Bundle's entry count, is over the configured limit."""

    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    """The body's Content-Type is not one the server reads."""

    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    """The body parses but is not a valid resource (structure, cardinality, invariants)."""

    status = 422
    code = "processing"


class TooManyRequests(FhirError):
    """The caller is over its rate limit."""

    status = 429
    code = "throttled"


class ServiceUnavailable(FhirError):
    """The database went away mid-request; nothing was stored and the client may retry."""

    status = 503
    code = "transient"


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """Wrap issues in an OperationOutcome resource."""
    return {"resourceType": "OperationOutcome", "issue": [i.as_json() for i in issues]}


def information(message: str) -> dict[str, Any]:
    """Return an informational OperationOutcome, e.g. for `Prefer: return=OperationOutcome`."""
    return operation_outcome([Issue("informational", message, severity="information")])


def internal_error() -> tuple[str, dict[str, Any]]:
    """Return a correlation id and the outcome a 500 shows: no exception text, ever."""
    correlation = str(uuid.uuid4())
    return correlation, operation_outcome(
        [Issue("exception", f"Internal error. Correlation id: {correlation}", severity="fatal")]
    )


# How pydantic's error types map to FHIR issue types.
_PYDANTIC_TO_ISSUE = {
    "missing": "required",
    "extra_forbidden": "structure",
    "string_pattern_mismatch": "value",
    "string_type": "value",
    "int_parsing": "value",
    "int_type": "value",
    "float_parsing": "value",
    "decimal_parsing": "value",
    "bool_parsing": "value",
    "bool_type": "value",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
    "literal_error": "code-invalid",
    "enum": "code-invalid",
    "value_error": "value",
    "assertion_error": "invariant",
    "too_short": "required",
    "too_long": "structure",
    "string_too_short": "value",
    "datetime_parsing": "value",
    "date_parsing": "value",
    "time_parsing": "value",
}


def pydantic_issues(resource_type: str, errors: Iterable[Any]) -> list[Issue]:
    """Translate pydantic validation errors into issues with FHIRPath-like locations."""
    issues = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        path = resource_type
        for part in loc:
            path += f"[{part}]" if part.isdigit() else f".{part}"
        msg = str(err.get("msg", "invalid value"))
        issues.append(
            Issue(_PYDANTIC_TO_ISSUE.get(str(err.get("type")), "invalid"), f"{path}: {msg}",
                  expression=(path,))
        )
    return issues or [Issue("invalid", f"{resource_type}: invalid resource")]
