"""Check a resource from outside against the R4 structure before anything is stored.

fhir.resources has no R4 package; its R4B models accept the R4 resources this hub uses, so
they are the validator. Only resource types that exist in R4 are accepted, and the models are
used to validate, never to serialise: the stored JSON is what the client sent, plus meta.
https://hl7.org/fhir/R4/validation.html
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from fhir_api.outcomes import (
    BadRequest,
    FhirError,
    Issue,
    NotFound,
    Unprocessable,
    pydantic_issues,
)
from fhir_api.resource_types import R4_RESOURCE_TYPES


@functools.cache
def _model(res_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(res_type)


def check_type(res_type: str) -> None:
    """Refuse a path or body that names a type R4 does not have."""
    if res_type not in R4_RESOURCE_TYPES:
        raise NotFound(f"Unknown resource type '{res_type}'", (res_type,), issue_code="not-supported")


def _structure(resource: Any, expected_type: str | None) -> str:
    """Return the resource's type, or raise 400 when the body is not the resource expected."""
    if not isinstance(resource, dict):
        raise BadRequest("The body must be a JSON object holding one resource")
    res_type = resource.get("resourceType")
    if not isinstance(res_type, str) or not res_type:
        raise BadRequest("The resource has no resourceType", ("resourceType",), issue_code="required")
    if expected_type is not None and res_type != expected_type:
        raise BadRequest(
            f"The body is a {res_type} but the URL is for {expected_type}", ("resourceType",)
        )
    if res_type not in R4_RESOURCE_TYPES:
        raise BadRequest(
            f"Unknown resource type '{res_type}'", ("resourceType",), issue_code="not-supported"
        )
    return res_type


def _is_extension_value_companion(error: Any) -> bool:
    loc: tuple[Any, ...] = tuple(error.get("loc") or ())
    return error.get("type") == "extra_forbidden" and len(loc) > 0 and str(loc[-1]).startswith("_value")


def _without_value_companions(node: Any) -> Any:
    """Drop `_valueX` from Extensions: R4 allows them, the R4B models lack the field."""
    if isinstance(node, dict):
        return {k: _without_value_companions(v) for k, v in node.items()
                if not (k.startswith("_value") and "url" in node)}
    if isinstance(node, list):
        return [_without_value_companions(v) for v in node]
    return node


def _content_issues(res_type: str, resource: dict[str, Any]) -> list[Issue]:
    model = _model(res_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if not all(_is_extension_value_companion(e) for e in errors):
            return pydantic_issues(res_type, errors)
        # Only the models' known gap failed: check the rest, keep the client's content as sent.
        try:
            model.model_validate(_without_value_companions(resource))
        except ValidationError as again:
            return pydantic_issues(res_type, again.errors(include_url=False, include_input=False))
    except (ValueError, TypeError) as exc:
        return [Issue("invalid", f"{res_type}: {exc}")]
    return []


def validate_resource(resource: Any, expected_type: str | None = None) -> dict[str, Any]:
    """Return `resource` if valid; raise 400 for the wrong shape or type, 422 for bad content."""
    res_type = _structure(resource, expected_type)
    issues = _content_issues(res_type, resource)
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues=issues)
    return resource  # type: ignore[no-any-return]


def validation_issues(resource: Any, expected_type: str | None = None) -> list[Issue]:
    """Return everything wrong with `resource`, for `$validate` (empty when valid)."""
    try:
        res_type = _structure(resource, expected_type)
    except FhirError as exc:
        return exc.issues
    return _content_issues(res_type, resource)
