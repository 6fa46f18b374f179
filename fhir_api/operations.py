"""Define the operations every FHIR server here offers, starting with `$validate`.

Operations are registered on the server like any other, so the CapabilityStatement lists
exactly these. `$validate` answers 200 with an OperationOutcome whether or not the resource
is valid: the outcome, not the status, carries the verdict.
https://hl7.org/fhir/R4/resource-operation-validate.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Issue, operation_outcome
from fhir_api.server import FhirServer, Operation
from fhir_api.validation import validation_issues


def parameter(body: Any, name: str) -> Any:
    """Return a named parameter's value or resource from a Parameters body, or None."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return None
    for param in body.get("parameter") or []:
        if isinstance(param, dict) and param.get("name") == name:
            if "resource" in param:
                return param["resource"]
            for key, value in param.items():
                if key.startswith("value"):
                    return value
    return None


def _validate(conn: Connection, req: FhirRequest, res_type: str | None, res_id: str | None) -> FhirResponse:
    body = req.body
    resource = parameter(body, "resource") if isinstance(body, dict) and body.get("resourceType") == "Parameters" else body
    if resource is None:
        raise BadRequest("$validate needs a resource in the body (or as Parameters.parameter 'resource')")
    issues = validation_issues(resource, res_type)
    if res_id is not None and isinstance(resource, dict) and resource.get("id") not in (None, res_id):
        issues.append(Issue("invalid", f"The resource's id does not match {res_type}/{res_id}", expression=("id",)))
    if not issues:
        issues = [Issue("informational", "The resource is valid", severity="information")]
    return FhirResponse(200, operation_outcome(issues))


def register_builtin_operations(server: FhirServer) -> None:
    """Add the operations every deployment has."""
    server.add_operation(Operation(
        name="validate", handler=_validate, type_level=True, instance_level=True, idempotent=False,
        definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
        documentation="Check a resource against the R4 structure without storing it",
    ))
