"""Ingång triage: protocols as data, the adaptive `$next-question` engine, and its evaluation.

The HTTP layer needs only this:

    from triage import load_catalog, next_question, TriageInputError
    catalog = load_catalog()                  # once, at start-up (validates every protocol)
    out = next_question(body, catalog=catalog)  # body: QuestionnaireResponse or Parameters

`TriageInputError(message, location)` means a 400 OperationOutcome; `ProtocolError` at start-up
means a protocol file is wrong and the hub must not start.
"""

from triage.assessment import assessment_summary, read_disposition
from triage.catalog import Catalog, build_catalog, load_catalog
from triage.decision import Assessment
from triage.engine import PatientFacts, evaluate, next_question
from triage.errors import ProtocolError, TriageError, TriageInputError
from triage.fhir_io import protocol_questionnaire

__all__ = [
    "Assessment",
    "Catalog",
    "PatientFacts",
    "ProtocolError",
    "TriageError",
    "TriageInputError",
    "assessment_summary",
    "build_catalog",
    "evaluate",
    "load_catalog",
    "next_question",
    "protocol_questionnaire",
    "read_disposition",
]
