"""Citizens see their own data and their young children's, as the population register and 1177's rule allow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.idp.dev import InMemoryPopulationRegister
from cases.principals import Citizen
from hub.access import AccessSettings
from tests.integration.access.conftest import UNTHROTTLED, GuardedHub, make_hub
from tests.integration.access.world import ANDERS, ANDERS_PNR, LILLY_PNR, TEO_PNR, guardian_of, ref

TEO = Citizen(TEO_PNR, "Teo", "Testsson")


def status(hub: GuardedHub, path: str, principal: Any, **kwargs: Any) -> int:
    return int(hub.client.get(f"/fhir/{path}", headers=hub.headers(principal), **kwargs).status_code)


def listed(hub: GuardedHub, query: str, headers: dict[str, str]) -> list[str]:
    resp = hub.client.get(f"/fhir/{query}", headers=headers)
    assert resp.status_code == 200, resp.text
    return sorted(e["resource"]["id"] for e in resp.json().get("entry", []) if e["search"]["mode"] == "match")


def test_a_parent__sees_their_own_and_their_young_childs_cases_but_not_their_teenagers(hub: GuardedHub) -> None:
    assert listed(hub, "Encounter", hub.headers(ANDERS)) == ["encounter-anders", "encounter-lilly"]
    assert listed(hub, "Encounter", hub.headers(guardian_of(LILLY_PNR))) == ["encounter-anders", "encounter-lilly"]
    assert status(hub, "Encounter/encounter-teo", guardian_of(TEO_PNR)) == 404


def test_a_teenager__sees_their_own_case(hub: GuardedHub) -> None:
    assert listed(hub, "Encounter", hub.headers(TEO)) == ["encounter-teo"]


def test_custody_ending_in_the_register__ends_access_at_once(hub: GuardedHub) -> None:
    assert status(hub, "Encounter/encounter-lilly", guardian_of(LILLY_PNR)) == 200
    hub.guard.register = InMemoryPopulationRegister({})
    assert status(hub, "Encounter/encounter-lilly", guardian_of(LILLY_PNR)) == 404
    assert status(hub, "Encounter/encounter-anders", guardian_of(LILLY_PNR)) == 200


def test_a_register_that_disagrees_with_itself__is_no_confirmation(hub: GuardedHub) -> None:
    class OneWay(InMemoryPopulationRegister):
        def guardians_of(self, child: str) -> tuple[str, ...]:
            return ()

    hub.guard.register = OneWay({ANDERS_PNR: (LILLY_PNR,)})
    assert status(hub, "Encounter/encounter-lilly", ANDERS) == 404


def test_on_the_childs_13th_birthday__the_guardian_loses_access(hub: GuardedHub) -> None:
    hub.clock.now = datetime(2027, 1, 1, 23, 0, tzinfo=UTC)
    assert status(hub, "Encounter/encounter-lilly", ANDERS) == 200
    hub.clock.now = datetime(2027, 1, 2, 0, 30, tzinfo=UTC)
    assert status(hub, "Encounter/encounter-lilly", ANDERS) == 404


@pytest.fixture
def no_hand_over(database_url: str, key_ring: Any, triage_catalog: Any) -> Iterator[GuardedHub]:
    settings = AccessSettings(anonymous_burst=UNTHROTTLED.anonymous_burst, child_takes_over_at=0)
    yield from make_hub(database_url, key_ring, triage_catalog, settings)


def test_with_the_13_year_rule_off__guardians_see_children_until_18(no_hand_over: GuardedHub) -> None:
    assert status(no_hand_over, "Encounter/encounter-teo", guardian_of(TEO_PNR)) == 200


def test_a_launch_patient__narrows_patient_scopes_to_that_patient(hub: GuardedHub) -> None:
    token = hub.token(ANDERS, "launch/patient patient/*.rs", patient="lilly")
    assert listed(hub, "Encounter", {"Authorization": f"Bearer {token}"}) == ["encounter-lilly"]


def test_scopes__limit_types_including_what_a_search_would_include(hub: GuardedHub) -> None:
    headers = {"Authorization": f"Bearer {hub.token(ANDERS, 'patient/Task.rs')}"}
    assert hub.client.get("/fhir/Encounter/encounter-anders", headers=headers).status_code == 403
    resp = hub.client.get("/fhir/Task?_include=Task:encounter&_include=Task:patient", headers=headers)
    assert {e["resource"]["resourceType"] for e in resp.json()["entry"]} == {"Task"}


def test_a_citizen__changes_answers_still_in_progress_but_not_finished_ones(hub: GuardedHub) -> None:
    answers = hub.world.get("QuestionnaireResponse", "qr-anders")
    for key in ("id", "meta"):
        answers.pop(key)
    answers["status"] = "in-progress"
    created = hub.client.post("/fhir/QuestionnaireResponse", json=answers, headers=hub.headers(ANDERS))
    assert created.status_code == 201
    body = created.json()
    body.pop("meta")
    body["status"] = "completed"
    path = f"/fhir/QuestionnaireResponse/{body['id']}"
    assert hub.client.put(path, json=body, headers=hub.headers(ANDERS)).status_code == 200
    assert hub.client.put(path, json=body, headers=hub.headers(ANDERS)).status_code == 403


@pytest.mark.parametrize(("change", "why"), [
    ({"subject": ref("Patient", "tolvan")}, "another patient"),
    ({"encounter": ref("Encounter", "encounter-teo")}, "a case the guardian may no longer see"),
    ({"subject": ref("Patient", "teo"), "sender": ref("Patient", "teo")}, "a teenager"),
])
def test_a_citizen__cannot_write_into_someone_elses_records(hub: GuardedHub, change: dict[str, Any], why: str) -> None:
    message = hub.world.get("Communication", "message-anders")
    for key in ("id", "meta"):
        message.pop(key)
    message.update(change)
    resp = hub.client.post("/fhir/Communication", json=message, headers=hub.headers(ANDERS))
    assert resp.status_code == 403, why


def test_saving_answers_for_a_teenager__is_refused_like_for_a_stranger(hub: GuardedHub) -> None:
    body = {"resourceType": "QuestionnaireResponse", "status": "in-progress", "subject": ref("Patient", "teo")}
    for subject in ("teo", "no-such-patient"):
        body["subject"] = ref("Patient", subject)
        resp = hub.client.post("/fhir/Questionnaire/$next-question", json=body,
                               headers=hub.headers(guardian_of(TEO_PNR)))
        assert resp.status_code == 404
        assert resp.json()["issue"][0]["diagnostics"] == \
            f"Patient/{subject} is not known, or not someone you may answer for"


def test_saving_ones_own_answers__is_logged_as_one_access_naming_patient_and_answers(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    body = {"resourceType": "QuestionnaireResponse", "status": "in-progress", "subject": ref("Patient", "anders")}
    resp = hub.client.post("/fhir/Questionnaire/$next-question", json=body, headers=hub.headers(ANDERS))
    assert resp.status_code == 200, resp.text
    (event,) = hub.audit_events()[before:]
    assert event["action"] == "E"
    assert [(e["role"]["code"], e["what"]["reference"]) for e in event["entity"]] == [
        ("1", "Patient/anders"), ("4", f"QuestionnaireResponse/{resp.json()['id']}")]
