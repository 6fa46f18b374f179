"""The `$next-question` contract: what is asked first, how it ends, and how bad input fails."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from triage.assessment import ASSESSMENT_URL, read_disposition
from triage.catalog import Catalog
from triage.dispositions import DISPOSITION_SYSTEM
from triage.engine import PatientFacts, next_question
from triage.errors import TriageInputError
from triage.vocabulary import FINDING_SYSTEM


def start() -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "in-progress"}


def asked(response: dict[str, Any]) -> list[str]:
    questionnaire = next(c for c in response["contained"] if c["resourceType"] == "Questionnaire")
    return [item["linkId"] for item in questionnaire["item"]]


def coding(code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": FINDING_SYSTEM, "code": code}}


def run(
    catalog: Catalog,
    reserved: dict[str, dict[str, Any]],
    yes: set[str],
    values: dict[str, dict[str, Any]] | None = None,
    patient: PatientFacts | None = None,
) -> dict[str, Any]:
    """Answer like a citizen: reserved answers, yes to `yes`, no to other yes/no questions."""
    response = next_question(start(), catalog=catalog, patient=patient)
    for _ in range(40):
        if response["status"] == "completed":
            return response
        done = {item["linkId"] for item in response["item"]}
        questionnaire = next(c for c in response["contained"] if c["resourceType"] == "Questionnaire")
        for question in questionnaire["item"]:
            code = question["linkId"]
            if code in done:
                continue
            if code in reserved:
                answer = [reserved[code]]
            elif values and code in values:
                answer = [values[code]]
            elif question["type"] == "boolean":
                answer = [{"valueBoolean": code in yes}]
            else:
                answer = []
            response["item"].append({"linkId": code, **({"answer": answer} if answer else {})})
        response = next_question(response, catalog=catalog, patient=patient)
    raise AssertionError("did not complete in 40 rounds")


def adult(complaint: str, sex: str = "female", age: int = 40) -> dict[str, dict[str, Any]]:
    return {"age-years": {"valueInteger": age}, "sex": coding(sex), "chief-complaint": coding(complaint)}


def test_engine__first_call_asks_age_sex_then_complaint(catalog: Catalog) -> None:
    response = next_question(start(), catalog=catalog)
    assert asked(response) == ["age-years", "sex", "chief-complaint"]
    assert response["status"] == "in-progress"
    complaint_item = next(c for c in response["contained"] if c["resourceType"] == "Questionnaire")["item"][2]
    assert {o["valueCoding"]["code"] for o in complaint_item["answerOption"]} == set(
        catalog.vocabulary.complaints
    )
    assert complaint_item["code"][0] == {
        "system": FINDING_SYSTEM,
        "code": "chief-complaint",
        "display": "What is your main problem?",
    }


def test_engine__age_months_is_asked_for_children_under_two(catalog: Catalog) -> None:
    response = next_question(start(), catalog=catalog)
    response["item"] = [
        {"linkId": "age-years", "answer": [{"valueInteger": 1}]},
        {"linkId": "sex", "answer": [coding("male")]},
        {"linkId": "chief-complaint", "answer": [coding("complaint-fever")]},
    ]
    assert asked(next_question(response, catalog=catalog))[-1] == "age-months"


def test_engine__baby_under_3_months_with_fever_is_emergency(catalog: Catalog) -> None:
    reserved = {**adult("complaint-fever", "male", 0), "age-months": {"valueInteger": 1}}
    response = run(catalog, reserved, yes=set())
    assert read_disposition(response) in ("emergency-department", "emergency-112")


def test_engine__baby_of_unknown_months_with_fever_is_treated_as_under_3_months(catalog: Catalog) -> None:
    response = run(catalog, adult("complaint-fever", "male", 0), yes=set())
    assert read_disposition(response) == "emergency-department"


def test_engine__stiff_neck_with_fever_calls_112_and_stops_at_once(catalog: Catalog) -> None:
    response = run(catalog, adult("complaint-headache", "male", 25), yes={"fever", "stiff-neck"})
    assert read_disposition(response) == "emergency-112"
    assert asked(response)[-1] == "stiff-neck"  # the red flag ends the questioning


def test_engine__stroke_sign_ends_in_112(catalog: Catalog) -> None:
    response = run(catalog, adult("complaint-dizziness", "male", 70), yes={"face-drooping"})
    assert read_disposition(response) == "emergency-112"


def test_engine__suicide_plan_ends_in_112(catalog: Catalog) -> None:
    response = run(
        catalog, adult("complaint-low-mood-or-anxiety"), yes={"thoughts-of-suicide", "suicide-plan"}
    )
    assert read_disposition(response) == "emergency-112"


def test_engine__uncomplicated_cold_is_self_care_with_advice_in_both_languages(catalog: Catalog) -> None:
    response = run(catalog, adult("complaint-runny-or-blocked-nose"), yes={"runny-nose", "sneezing"})
    assert response["status"] == "completed"
    assert read_disposition(response) == "self-care"
    assessment = next(e for e in response["extension"] if e["url"] == ASSESSMENT_URL)
    advice = next(e for e in assessment["extension"] if e["url"] == "advice")
    parts = {e["url"]: e for e in advice["extension"]}
    assert set(parts) == {"do", "watch-for", "seek-care-if"}
    for part in parts.values():
        assert part["valueString"]
        assert part["_valueString"]["extension"][0]["extension"][1]["valueString"]  # the English translation


def test_engine__completed_response_has_exactly_one_disposition_coding(catalog: Catalog) -> None:
    response = run(
        catalog, adult("complaint-cough"), yes={"fever"}, values={"fever-duration-days": {"valueInteger": 6}}
    )
    found = [c for c in json.dumps(response).split('"system": "') if c.startswith(DISPOSITION_SYSTEM)]
    assert len(found) == 1
    assert read_disposition(response) == "within-24h"
    assessment = next(e for e in response["extension"] if e["url"] == ASSESSMENT_URL)
    urls = [e["url"] for e in assessment["extension"]]
    assert {"disposition", "competence", "rationale", "rule"} <= set(urls)


def test_engine__is_stateless_and_does_not_change_its_input(catalog: Catalog) -> None:
    first = next_question(start(), catalog=catalog)
    first["item"] = [
        {"linkId": "age-years", "answer": [{"valueInteger": 30}]},
        {"linkId": "sex", "answer": [coding("male")]},
        {"linkId": "chief-complaint", "answer": [coding("complaint-cough")]},
    ]
    snapshot = copy.deepcopy(first)
    assert next_question(first, catalog=catalog) == next_question(copy.deepcopy(first), catalog=catalog)
    assert first == snapshot


def test_engine__parameters_wrapper_is_accepted(catalog: Catalog) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": start()}],
    }
    assert asked(next_question(body, catalog=catalog)) == ["age-years", "sex", "chief-complaint"]


def test_engine__known_subject_is_not_asked_age_and_sex(catalog: Catalog) -> None:
    patient = PatientFacts.from_patient(
        {"birthDate": "1990-05-01", "gender": "female"}, today=date(2026, 1, 1)
    )
    assert patient.age_years == 35
    response = next_question(start(), catalog=catalog, patient=patient)
    assert asked(response) == ["chief-complaint"]


def test_engine__skipped_question_counts_as_dont_know_and_moves_on(catalog: Catalog) -> None:
    response = next_question(start(), catalog=catalog)
    response["item"] = [
        {"linkId": "age-years", "answer": [{"valueInteger": 30}]},
        {"linkId": "sex", "answer": [coding("male")]},
        {"linkId": "chief-complaint", "answer": [coding("complaint-cough")]},
    ]
    grown = next_question(response, catalog=catalog)
    again = next_question(grown, catalog=catalog)  # posted back without answering
    assert asked(again)[:-1] == asked(grown) and len(asked(again)) == len(asked(grown)) + 1


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ([], "$"),
        ({"resourceType": "Patient"}, "resourceType"),
        ({"resourceType": "QuestionnaireResponse", "status": "amended"}, "QuestionnaireResponse.status"),
        (
            {"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": "x"},
            "QuestionnaireResponse.item",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [{"linkId": "favourite-colour"}],
            },
            "QuestionnaireResponse.item[0].linkId",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [{"linkId": "age-years", "answer": [{"valueString": "forty"}]}],
            },
            "QuestionnaireResponse.item[0].answer[0]",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [{"linkId": "age-years", "answer": [{"valueInteger": 400}]}],
            },
            "QuestionnaireResponse.item[0].answer[0].valueInteger",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [
                    {
                        "linkId": "sex",
                        "answer": [{"valueCoding": {"system": FINDING_SYSTEM, "code": "robot"}}],
                    }
                ],
            },
            "QuestionnaireResponse.item[0].answer[0].valueCoding",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [{"linkId": "fever", "answer": [{"valueBoolean": True}]}, {"linkId": "fever"}],
            },
            "QuestionnaireResponse.item[1].linkId",
        ),
        (
            {
                "resourceType": "QuestionnaireResponse",
                "status": "in-progress",
                "item": [{"linkId": "fever", "answer": [{"valueBoolean": True}, {"valueBoolean": False}]}],
            },
            "QuestionnaireResponse.item[0].answer",
        ),
        ({"resourceType": "Parameters", "parameter": []}, "Parameters.parameter"),
    ],
)
def test_engine__malformed_input_raises_triage_input_error_with_location(
    catalog: Catalog, body: Any, location: str
) -> None:
    with pytest.raises(TriageInputError) as caught:
        next_question(body, catalog=catalog)
    assert caught.value.location == location
    assert caught.value.message


def test_engine__unanswered_chief_complaint_is_an_input_error(catalog: Catalog) -> None:
    response = next_question(start(), catalog=catalog)
    response["item"] = [
        {"linkId": "age-years", "answer": [{"valueInteger": 30}]},
        {"linkId": "sex", "answer": [coding("male")]},
        {"linkId": "chief-complaint"},
    ]
    with pytest.raises(TriageInputError, match="chief complaint"):
        next_question(response, catalog=catalog)
