"""Searches never reveal that a hidden resource exists: not by _include, _revinclude, _total, chains or history.

Erik works at Vårdcentralen Norrstaden, which has one case, Tolvan's. Everything at
Digitala mottagningen Norr is hidden from him, including a second case of Tolvan's there,
and including Anders's answers and Encounter that Tolvan's case refers to (`basedOn`, `partOf`:
references that do not make their target part of the case).
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.access.guard import PdlGuard
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANDERS_PNR, ERIK, TOLVAN, case_resources, ref


@pytest.fixture
def erik_hub(hub: GuardedHub) -> GuardedHub:
    """The world plus a case for Tolvan at Erik's unit and one at Digitala mottagningen."""
    at_vc01 = case_resources("tolvan", unit="vc01", role="erik-vc01")
    for item in at_vc01:
        if item["resourceType"] == "Task":
            item["basedOn"] = [ref("QuestionnaireResponse", "qr-anders")]  # points at hidden resources
        if item["resourceType"] == "Encounter":
            item["partOf"] = ref("Encounter", "encounter-anders")
    elsewhere = [dict(r, id=f"{r['id']}-dig1") for r in case_resources("tolvan")
                 if r["resourceType"] in ("Encounter", "Task")]
    elsewhere[1]["encounter"] = ref("Encounter", "encounter-tolvan-dig1")
    role = {"resourceType": "PractitionerRole", "id": "erik-vc01", "organization": ref("Organization", "vc01")}
    with hub.engine.begin() as conn:
        for item in [role, *at_vc01, *elsewhere]:
            body = dict(item)
            hub.server.repo.create(conn, body, body.pop("id"))
    return hub


def search(hub: GuardedHub, query: str, principal: Any = ERIK) -> dict[str, Any]:
    resp = hub.client.get(f"/fhir/{query}", headers=hub.headers(principal))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def ids(bundle: dict[str, Any], mode: str | None = None) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if "resource" in e and (mode is None or e["search"]["mode"] == mode)}


def test_include__does_not_bring_along_a_hidden_resource_a_visible_one_points_at(erik_hub: GuardedHub) -> None:
    found = ids(search(erik_hub, "Task?_include=Task:based-on&_include=Task:patient&_include=Task:encounter"))
    assert found == {"Task/task-tolvan", "Patient/tolvan", "Encounter/encounter-tolvan"}
    found = ids(search(erik_hub, "Encounter?_include=Encounter:part-of&_include=Encounter:*"))
    assert "Encounter/encounter-anders" not in found and "Encounter/encounter-tolvan" in found


def test_include_iterate__stops_at_hidden_resources_too(erik_hub: GuardedHub) -> None:
    found = ids(search(erik_hub, "Encounter?_revinclude=Task:encounter&_include:iterate=Task:based-on"
                                 "&_include:iterate=QuestionnaireResponse:encounter"))
    assert "QuestionnaireResponse/qr-anders" not in found and "Encounter/encounter-anders" not in found
    assert "Task/task-tolvan" in found


def test_revinclude__does_not_bring_along_another_units_resources_about_a_visible_patient(
        erik_hub: GuardedHub) -> None:
    found = ids(search(erik_hub, "Patient?_revinclude=Encounter:patient&_revinclude=Task:patient"
                                 "&_revinclude=AuditEvent:patient&_revinclude=Consent:patient"))
    assert found == {"Patient/tolvan", "Encounter/encounter-tolvan", "Task/task-tolvan", "Consent/consent-tolvan"}


def test_total_accurate__counts_only_what_the_caller_may_see(erik_hub: GuardedHub) -> None:
    assert search(erik_hub, "Encounter?_total=accurate")["total"] == 1
    assert search(erik_hub, "Patient?_total=accurate&identifier=" + ANDERS_PNR)["total"] == 0
    assert search(erik_hub, "Task?_total=estimate&status=ready").get("total") in (None, 1)
    assert search(erik_hub, "Encounter?_summary=count")["total"] == 1


def test_chained_parameters__never_match_through_a_hidden_resource(erik_hub: GuardedHub) -> None:
    assert ids(search(erik_hub, f"Encounter?patient.identifier={ANDERS_PNR}")) == set()
    assert ids(search(erik_hub, "Task?based-on:QuestionnaireResponse.status=completed")) == set()
    assert ids(search(erik_hub, "Encounter?part-of.status=arrived")) == set()
    assert ids(search(erik_hub, "Task?focus:QuestionnaireResponse.status=completed")) == {"Task/task-tolvan"}
    assert ids(search(erik_hub, "Task?patient.identifier=191212121212")) == {"Task/task-tolvan"}


def test_system_search__filters_every_type_it_spans(erik_hub: GuardedHub) -> None:
    found = ids(search(erik_hub, "?_type=Encounter,Task,QuestionnaireResponse,Patient&_count=100"))
    assert found == {"Encounter/encounter-tolvan", "Task/task-tolvan", "QuestionnaireResponse/qr-tolvan",
                     "Patient/tolvan"}


def test_history__of_a_type_or_the_system_is_refused_and_of_a_hidden_instance_is_a_404(
        erik_hub: GuardedHub) -> None:
    headers = erik_hub.headers(ERIK)
    assert erik_hub.client.get("/fhir/Encounter/_history", headers=headers).status_code == 403
    assert erik_hub.client.get("/fhir/_history", headers=headers).status_code == 403
    hidden = erik_hub.client.get("/fhir/Encounter/encounter-anders/_history", headers=headers)
    missing = erik_hub.client.get("/fhir/Encounter/no-such-thing/_history", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["issue"][0]["diagnostics"].replace("encounter-anders", "X") == \
        missing.json()["issue"][0]["diagnostics"].replace("no-such-thing", "X")
    own = erik_hub.client.get("/fhir/Encounter/encounter-tolvan/_history", headers=headers)
    assert own.status_code == 200 and len(own.json()["entry"]) == 1


@pytest.mark.parametrize("path", ["Encounter/{id}", "Encounter/{id}/_history/1", "Encounter/{id}/_history/x",
                                  "Encounter/{id}/$validate"])
def test_a_hidden_resource_by_id__is_answered_exactly_like_a_missing_one(erik_hub: GuardedHub, path: str) -> None:
    headers = erik_hub.headers(ERIK)
    hidden = erik_hub.client.get("/fhir/" + path.format(id="encounter-anders"), headers=headers)
    missing = erik_hub.client.get("/fhir/" + path.format(id="no-such-thing"), headers=headers)
    if path.endswith("$validate"):
        assert hidden.status_code == missing.status_code  # GET $validate is refused before any lookup
        return
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace("encounter-anders", "X") == missing.text.replace("no-such-thing", "X")


def test_writes_to_a_hidden_resource__are_404_like_a_missing_one_not_403(erik_hub: GuardedHub) -> None:
    body = erik_hub.world.get("Encounter", "encounter-anders")
    body.pop("meta")
    resp = erik_hub.client.put("/fhir/Encounter/encounter-anders", json=body, headers=erik_hub.headers(ERIK))
    assert resp.status_code == 404
    patch = erik_hub.client.patch("/fhir/Encounter/encounter-anders", json=[{"op": "add", "path": "/language",
                                                                             "value": "sv"}],
                                  headers={**erik_hub.headers(ERIK), "Content-Type": "application/json-patch+json"})
    assert patch.status_code == 404


def test_conditional_writes_on_patient_data__are_refused_whatever_they_would_match(erik_hub: GuardedHub) -> None:
    headers = erik_hub.headers(ERIK)
    body = {"resourceType": "Patient", "identifier": [{"system": "http://electronichealth.se/identifier/"
                                                                 "personnummer", "value": ANDERS_PNR}]}
    assert erik_hub.client.put(f"/fhir/Patient?identifier={ANDERS_PNR}", json=body,
                               headers=headers).status_code == 403
    assert erik_hub.client.post("/fhir/Patient", json=body, headers={
        **headers, "If-None-Exist": f"identifier={ANDERS_PNR}"}).status_code == 403
    assert erik_hub.client.delete(f"/fhir/Patient?identifier={ANDERS_PNR}", headers=headers).status_code == 403


def test_a_citizen_sees_nothing_of_another_citizen_through_any_search(erik_hub: GuardedHub) -> None:
    found = ids(search(erik_hub, "Patient?_revinclude=Encounter:patient&_revinclude=Task:patient"
                                 "&_revinclude=AuditEvent:patient&_count=50", TOLVAN))
    assert found == {"Patient/tolvan", "Encounter/encounter-tolvan", "Task/task-tolvan",
                     "Encounter/encounter-tolvan-dig1", "Task/task-tolvan-dig1"}
    assert search(erik_hub, "Encounter?_total=accurate", TOLVAN)["total"] == 2


def test_the_guards_visible__answers_for_the_cores_own_lookups_as_a_read_would(erik_hub: GuardedHub) -> None:
    from fhir_api.messages import FhirRequest
    from hub.access import Caller, hub_caller
    from tests.integration.access.world import ANNA

    guard: PdlGuard = erik_hub.guard
    with erik_hub.engine.connect() as conn:
        def sees(caller: Any, res_type: str, res_id: str) -> bool:
            return guard.visible(conn, FhirRequest("GET", "", caller=caller), res_type, res_id)

        assert not sees(Caller(ERIK), "Encounter", "encounter-anders")
        assert sees(Caller(ANNA), "Encounter", "encounter-anders")
        assert sees(hub_caller(), "Encounter", "encounter-anders")
        assert not sees(None, "Encounter", "encounter-anders")
        assert sees(Caller(ERIK), "Organization", "dig1") and not sees(Caller(ERIK), "Organization", "nope")
        assert sees(Caller(ANNA), "Binary", "binary-anders") and not sees(Caller(ERIK), "Binary", "binary-anders")


def test_the_search_filter__is_the_same_condition_a_read_by_id_uses(erik_hub: GuardedHub) -> None:
    headers = erik_hub.headers(ERIK)
    for res_type in ("Encounter", "Task", "QuestionnaireResponse", "Communication", "Media", "Appointment",
                     "Provenance", "Consent", "RelatedPerson", "Patient"):
        listed = ids(search(erik_hub, f"{res_type}?_count=100"), "match")
        for who in ("anders", "lilly", "teo", "tolvan"):
            for res_id in (f"{res_type.lower()}-{who}", who):
                read = erik_hub.client.get(f"/fhir/{res_type}/{res_id}", headers=headers)
                assert (read.status_code == 200) == (f"{res_type}/{res_id}" in listed), (res_type, res_id)


def test_a_clinician_cannot_pull_another_units_record_into_their_case_by_pointing_at_it(
        erik_hub: GuardedHub) -> None:
    headers = erik_hub.headers(ERIK)
    task = erik_hub.world.get("Task", "task-anders")
    for key in ("id", "meta"):
        task.pop(key)
    task.update(owner=ref("Organization", "vc01"), focus=ref("QuestionnaireResponse", "qr-anders"),
                encounter=ref("Encounter", "encounter-tolvan"))
    assert erik_hub.client.post("/fhir/Task", json=task, headers=headers).status_code == 403
    own = erik_hub.client.get("/fhir/Task/task-tolvan", headers=headers).json()
    own.pop("meta")
    own["focus"] = ref("QuestionnaireResponse", "qr-anders")
    assert erik_hub.client.put("/fhir/Task/task-tolvan", json=own, headers=headers).status_code == 403
    own["focus"] = ref("QuestionnaireResponse", "no-such-answers")  # missing is refused the same way
    assert erik_hub.client.put("/fhir/Task/task-tolvan", json=own, headers=headers).status_code == 403
    assert erik_hub.client.get("/fhir/QuestionnaireResponse/qr-anders", headers=headers).status_code == 404


def test_validating_a_hidden_resource_by_id__is_a_404_like_a_missing_one(erik_hub: GuardedHub) -> None:
    body = erik_hub.world.get("Encounter", "encounter-anders")
    statuses = {res_id: erik_hub.client.post(f"/fhir/Encounter/{res_id}/$validate", json=dict(body, id=res_id),
                                             headers=erik_hub.headers(ERIK)).status_code
                for res_id in ("encounter-anders", "no-such-thing")}
    assert statuses == {"encounter-anders": 404, "no-such-thing": 404}
