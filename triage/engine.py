"""Answer the SDC `$next-question` operation: a QuestionnaireResponse in, the next one out.

Stateless: everything the engine needs is in the posted response (and, for a logged-in
citizen, the age and sex the HTTP layer read from the subject). Age and sex come first, then
the chief complaint, then the complaint's protocol decides question by question until the
disposition is settled; the completed response carries the assessment as an extension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from triage.assessment import assessment_extension
from triage.catalog import Catalog
from triage.conditions import Value
from triage.decision import Assessment, build_facts, next_code
from triage.decision import assess as assess_facts
from triage.errors import TriageInputError
from triage.fhir_io import QUESTIONNAIRE_ID, ParsedResponse, copy_json, parse_response, render_questionnaire

FIRST_PAGE = ("age-years", "sex", "chief-complaint")


@dataclass(frozen=True)
class PatientFacts:
    """Age and sex of a known subject, so the engine need not ask them."""

    age_years: int
    age_months: int | None = None
    sex: str | None = None

    @classmethod
    def from_patient(cls, patient: Mapping[str, Any], today: date) -> PatientFacts:
        """Read birthDate and gender from a FHIR Patient; TriageInputError if birthDate is unusable."""
        try:
            born = date.fromisoformat(str(patient["birthDate"])[:10])
        except (KeyError, ValueError) as exc:
            raise TriageInputError("the subject has no usable birthDate", "Patient.birthDate") from exc
        months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
        if months < 0:
            raise TriageInputError("the subject's birthDate is in the future", "Patient.birthDate")
        gender = patient.get("gender")
        return cls(
            months // 12, months if months < 24 else None, gender if gender in ("female", "male") else None
        )

    def answers(self) -> dict[str, Value]:
        """Return the reserved answers these facts stand for."""
        answers: dict[str, Value] = {"age-years": self.age_years}
        if self.age_months is not None:
            answers["age-months"] = self.age_months
        if self.sex is not None:
            answers["sex"] = self.sex
        return answers


def _reserved_questions(parsed: ParsedResponse) -> list[str]:
    known = set(parsed.answers) | parsed.dont_know
    pending = [code for code in FIRST_PAGE if code not in known]
    years = parsed.answers.get("age-years")
    if (
        isinstance(years, (int, float))
        and years < 2
        and "age-months" not in known
        and "age-years" not in pending
    ):
        pending.insert(0, "age-months")
    return pending


def _assessment(parsed: ParsedResponse, catalog: Catalog) -> Assessment | str:
    """Return the assessment, or the next finding code to ask."""
    complaint = parsed.answers.get("chief-complaint")
    if not isinstance(complaint, str):
        raise TriageInputError("the chief complaint was not answered", "QuestionnaireResponse.item")
    protocol = catalog.protocol(complaint)
    facts = build_facts(parsed.answers, parsed.dont_know, protocol, catalog.derivations)
    code = next_code(protocol, facts, len(parsed.asked))
    return code if code is not None else assess_facts(protocol, facts)


def evaluate(
    body: Any, *, catalog: Catalog, patient: PatientFacts | None = None
) -> tuple[list[str], Assessment | None]:
    """Return the next questions to ask and, when none are left, the assessment."""
    return _evaluate(parse_response(body, catalog.vocabulary), catalog, patient)


def _evaluate(
    parsed: ParsedResponse, catalog: Catalog, patient: PatientFacts | None
) -> tuple[list[str], Assessment | None]:
    if patient is not None:
        parsed.answers.update(patient.answers())
        parsed.dont_know.difference_update(patient.answers())
    pending = _reserved_questions(parsed)
    if pending:
        return pending, None
    if "chief-complaint" in parsed.dont_know:
        raise TriageInputError("the chief complaint cannot be left unanswered", "QuestionnaireResponse.item")
    outcome = _assessment(parsed, catalog)
    return ([outcome], None) if isinstance(outcome, str) else ([], outcome)


def next_question(body: Any, *, catalog: Catalog, patient: PatientFacts | None = None) -> dict[str, Any]:
    """Grow the posted QuestionnaireResponse by the next question(s), or complete it with the assessment.

    `body` is a QuestionnaireResponse or a Parameters with `questionnaire-response`; the
    result is a new dict (the input is not changed). Raises TriageInputError on bad input.
    """
    parsed = parse_response(body, catalog.vocabulary)
    pending, assessment = _evaluate(parsed, catalog, patient)
    # the caller's dict is left alone; only the parts we rebuild are replaced, the rest is shared read-only
    result = {
        key: value for key, value in parsed.resource.items() if key not in ("contained", "item", "extension")
    }
    result["contained"] = list(parsed.resource.get("contained") or [])
    result["extension"] = copy_json(parsed.resource.get("extension") or [])
    asked = [*parsed.asked, *(code for code in pending if code not in parsed.asked)]
    if patient is not None:
        asked = [code for code in asked if code not in patient.answers() or code in parsed.asked]
    result["contained"] = [
        *(
            c
            for c in result["contained"]
            if not (isinstance(c, Mapping) and c.get("resourceType") == "Questionnaire")
        ),
        render_questionnaire(asked, catalog.vocabulary),
    ]
    result["questionnaire"] = f"#{QUESTIONNAIRE_ID}"
    result["item"] = parsed.items
    extensions = [
        e
        for e in result.get("extension", [])
        if not (isinstance(e, Mapping) and e.get("url", "").endswith("triage-assessment"))
    ]
    if assessment is None:
        result["status"] = "in-progress"
    else:
        result["status"] = "completed"
        extensions.append(assessment_extension(assessment))
    if extensions:
        result["extension"] = extensions
    else:
        result.pop("extension", None)
    return result
