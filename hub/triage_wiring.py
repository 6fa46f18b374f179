"""Offer the triage engine as the SDC `$next-question` operation on Questionnaire.

The engine is plain Python; this module is the adapter that loads its catalog once at
start-up, turns its input errors into OperationOutcomes and registers the operation, so the
CapabilityStatement lists it like any other.
https://hl7.org/fhir/uv/sdc/OperationDefinition-Questionnaire-next-question.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.outcomes import BadRequest, Unauthorized
from fhir_api.server import FhirServer, Operation
from triage.catalog import Catalog, load_catalog
from triage.engine import next_question
from triage.errors import TriageInputError


def next_question_handler(catalog: Catalog) -> Any:
    """Return the `$next-question` handler over a loaded catalog."""

    def handle(conn: Connection, req: FhirRequest, res_type: str | None, res_id: str | None) -> FhirResponse:
        body = req.body
        response = body
        if isinstance(body, dict) and body.get("resourceType") == "Parameters":
            response = next(
                (p.get("resource") for p in body.get("parameter") or []
                 if isinstance(p, dict) and p.get("name") == "questionnaire-response"),
                None,
            )
        if isinstance(response, dict) and response.get("subject"):
            # Saving a citizen's answers needs to know who the citizen is.
            raise Unauthorized("A QuestionnaireResponse with a subject is saved for a logged-in citizen "
                               "only; log in, or leave out the subject for an anonymous assessment",
                               ("QuestionnaireResponse.subject",))
        try:
            return FhirResponse(200, next_question(body, catalog=catalog))
        except TriageInputError as exc:
            raise BadRequest(exc.message, (exc.location,)) from None

    return handle


def register_triage(server: FhirServer, catalog: Catalog | None = None) -> Catalog:
    """Load the triage catalog and register `$next-question`; a bad protocol stops start-up."""
    catalog = catalog or load_catalog()
    server.add_operation(Operation(
        name="next-question", handler=next_question_handler(catalog), types=frozenset({"Questionnaire"}),
        type_level=True, instance_level=False, idempotent=False,
        definition="http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-next-question",
        documentation="Adaptive triage: post the QuestionnaireResponse so far, get it back with the "
                      "next question(s), or completed with the automatic assessment as an extension",
    ))
    return catalog
