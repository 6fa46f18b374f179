"""A logged-in citizen's triage is saved as it grows and, completed, opens one routed case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cases.principals import Citizen, Guardian
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import NotFound, Unauthorized
from hub.app import Hub, build_hub
from tests.conftest import hub_settings
from triage.evaluation import Vignette, answer_questions

PNR = "http://electronichealth.se/identifier/personnummer"
COUGH = Vignette("t-1", 68, "female", "complaint-cough",
                 {"cough": True, "fever": True, "highest-temperature": 38.9, "pain-worse-on-breathing-in": True,
                  "cough-with-phlegm": True, "phlegm-colour": "brown-or-rust", "tiredness": True},
                 "urgent", "4-level")


@pytest.fixture
def hub(database_url: str) -> Iterator[Hub]:
    built = build_hub(hub_settings(database_url))
    yield built
    built.engine.dispose()


def create(hub: Hub, resource: dict[str, Any]) -> str:
    resp = hub.fhir.handle(FhirRequest("POST", resource["resourceType"], body=resource))
    body = resp.json()
    assert body is not None
    return f"{resource['resourceType']}/{body['id']}"


def patient(hub: Hub, pnr: str, born: str, gender: str) -> str:
    return create(hub, {"resourceType": "Patient", "identifier": [{"system": PNR, "value": pnr}],
                        "birthDate": born, "gender": gender})


def post(hub: Hub, response: dict[str, Any], caller: Any) -> dict[str, Any]:
    req = FhirRequest("POST", "Questionnaire/$next-question", body=response, caller=caller)
    body = hub.fhir.handle(req).json()
    assert body is not None
    return body


def run_to_completion(hub: Hub, subject: str, caller: Any, vignette: Vignette = COUGH) -> dict[str, Any]:
    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                                "subject": {"reference": subject}}
    for _ in range(60):
        response = post(hub, response, caller)
        if response["status"] == "completed":
            return response
        response, _ = answer_questions(response, vignette)
    raise AssertionError("triage did not complete")


def search(hub: Hub, query: str) -> list[dict[str, Any]]:
    body = hub.fhir.handle(FhirRequest.from_url("GET", query)).json()
    assert body is not None
    return [e["resource"] for e in body.get("entry", []) if e["search"]["mode"] == "match"]


def test_intake__completed_triage_opens_one_case_in_a_waiting_room(hub: Hub) -> None:
    subject = patient(hub, "195807242391", "1958-07-24", "female")
    caller = Citizen("195807242391")
    done = run_to_completion(hub, subject, caller)
    assert done["id"] and done["encounter"]["reference"].startswith("Encounter/")
    tasks = search(hub, f"Task?for={subject}")
    assert len(tasks) == 1
    task = tasks[0]
    assert task["focus"]["reference"] == f"QuestionnaireResponse/{done['id']}"
    outputs = {o["type"]["coding"][0]["code"]: o for o in task["output"]}
    disposition = outputs["disposition"]["valueCodeableConcept"]["coding"][0]["code"]
    assert disposition in {"urgent", "within-24h"}
    encounter = search(hub, f"Encounter?_id={done['encounter']['reference'].split('/')[1]}")[0]
    assert encounter["class"]["code"] == "VR"
    if task["status"] == "ready":
        assert encounter["status"] == "arrived" and task["owner"]["reference"].startswith("Organization/")
    # Posting the completed response again opens no second case.
    post(hub, done, caller)
    assert len(search(hub, f"Task?for={subject}")) == 1


def test_intake__age_and_sex_come_from_the_patient_not_questions(hub: Hub) -> None:
    subject = patient(hub, "195807242391", "1958-07-24", "female")
    first = post(hub, {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                       "subject": {"reference": subject}}, Citizen("195807242391"))
    asked = [i["linkId"] for i in first["contained"][0]["item"]]
    assert "age-years" not in asked and "sex" not in asked
    assert first["id"]  # saved as it grows


def test_intake__guardian_answers_for_their_child(hub: Hub) -> None:
    child = patient(hub, "201401022387", "2014-01-02", "female")
    guardian = Guardian(Citizen("198112189876"), "201401022387")
    done = run_to_completion(hub, child, guardian, Vignette("t-2", 11, "female", "complaint-cough",
                                                             {"cough": True}, "self-care", "4-level"))
    assert done["status"] == "completed"
    assert len(search(hub, f"Task?for={child}")) == 1


def test_intake__someone_elses_patient_is_not_found(hub: Hub) -> None:
    subject = patient(hub, "195807242391", "1958-07-24", "female")
    with pytest.raises(NotFound):
        post(hub, {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                   "subject": {"reference": subject}}, Citizen("191212121212"))


def test_intake__without_login_a_subject_is_refused(hub: Hub) -> None:
    subject = patient(hub, "195807242391", "1958-07-24", "female")
    with pytest.raises(Unauthorized):
        post(hub, {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                   "subject": {"reference": subject}}, None)


def test_intake__anonymous_assessment_stores_nothing(hub: Hub) -> None:
    before = len(search(hub, "QuestionnaireResponse"))
    out = post(hub, {"resourceType": "QuestionnaireResponse", "status": "in-progress"}, None)
    assert out["status"] == "in-progress" and "id" not in out
    assert len(search(hub, "QuestionnaireResponse")) == before


def test_protocols__are_readable_as_questionnaires(hub: Hub) -> None:
    found = search(hub, "Questionnaire?_id=complaint-cough")
    assert found and found[0]["url"].endswith("complaint-cough")
