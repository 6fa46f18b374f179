"""Index rows of representative hub resources: what each search parameter will find."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fhir_api.indexing import index_rows, parse_reference
from fhir_api.search.values import MAX_DT
from fhir_api.searchparams import DATA_FILE, SearchParamRegistry

PNR = "http://electronichealth.se/identifier/personnummer"
HSA = "urn:oid:1.2.752.29.4.19"


@pytest.fixture(scope="module")
def registry() -> SearchParamRegistry:
    return SearchParamRegistry.load()


def rows(resource: dict[str, Any], registry: SearchParamRegistry, kind: str, param: str,
         **kw: Any) -> list[dict[str, Any]]:
    out = index_rows(resource, registry, **kw)[kind]
    return [{k: v for k, v in r.items() if k not in ("param", "grp")} for r in out if r["param"] == param]


PATIENT = {
    "resourceType": "Patient", "id": "p1",
    "meta": {"tag": [{"system": "http://ex/tags", "code": "demo"}], "profile": ["http://ex/sd/patient"]},
    "identifier": [{"system": PNR, "value": "191212121212"}],
    "name": [{"family": "Öberg", "given": ["Åsa", "Maria"]}],
    "telecom": [{"system": "phone", "value": "+46701234567"}, {"system": "email", "value": "asa@ex.se"}],
    "gender": "female", "birthDate": "1912-12-12", "deceasedBoolean": False,
    "address": [{"city": "Malmö", "postalCode": "211 22"}],
    "managingOrganization": {"reference": "https://hub.ex/fhir/Organization/o2"},
    "generalPractitioner": [{"reference": "#contained"}],
}


def test_patient__identifier_is_a_token_with_system_and_value(registry: SearchParamRegistry) -> None:
    assert rows(PATIENT, registry, "token", "identifier") == [
        {"system": PNR, "code": "191212121212", "text_norm": None}]


def test_patient__name_parts_are_normalised_strings(registry: SearchParamRegistry) -> None:
    found = rows(PATIENT, registry, "string", "name")
    assert [r["value_norm"] for r in found] == ["oberg", "asa", "maria"]
    assert [r["value_exact"] for r in found] == ["Öberg", "Åsa", "Maria"]


def test_patient__birthdate_is_the_whole_day(registry: SearchParamRegistry) -> None:
    assert rows(PATIENT, registry, "date", "birthdate") == [
        {"low": datetime(1912, 12, 12), "high": datetime(1912, 12, 12, 23, 59, 59, 999999), "span": 0}]


def test_patient__email_and_phone_only_take_their_own_telecom(registry: SearchParamRegistry) -> None:
    assert [r["code"] for r in rows(PATIENT, registry, "token", "email")] == ["asa@ex.se"]
    assert [r["code"] for r in rows(PATIENT, registry, "token", "phone")] == ["+46701234567"]


def test_patient__deceased_false_and_common_meta_parameters(registry: SearchParamRegistry) -> None:
    assert [r["code"] for r in rows(PATIENT, registry, "token", "deceased")] == ["false"]
    assert rows(PATIENT, registry, "token", "_tag")[0]["code"] == "demo"
    assert rows(PATIENT, registry, "uri", "_profile") == [{"value": "http://ex/sd/patient"}]


def test_references__to_our_base_become_relative_and_contained_ones_are_skipped(
        registry: SearchParamRegistry) -> None:
    assert rows(PATIENT, registry, "reference", "organization", base_url="https://hub.ex/fhir") == [
        {"target_type": "Organization", "target_id": "o2", "url": None}]
    assert rows(PATIENT, registry, "reference", "organization") == [
        {"target_type": "Organization", "target_id": None, "url": "https://hub.ex/fhir/Organization/o2"}]
    assert rows(PATIENT, registry, "reference", "general-practitioner") == []


def test_parse_reference__strips_history_and_canonical_versions() -> None:
    assert parse_reference("Patient/1/_history/3") == {"target_type": "Patient", "target_id": "1", "url": None}
    assert parse_reference("http://ex.se/Questionnaire/q|2.0") == {
        "target_type": "Questionnaire", "target_id": None, "url": "http://ex.se/Questionnaire/q"}
    assert parse_reference("#x") is None


OBSERVATION = {
    "resourceType": "Observation", "id": "o1", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "BP panel"}],
             "text": "Blood pressure"},
    "subject": {"reference": "Group/g1"},
    "effectiveDateTime": "2024-03-01T10:00:00+01:00",
    "component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
         "valueQuantity": {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
         "valueQuantity": {"value": 80.5, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
    ],
}


def test_observation__code_carries_text_and_display_for_text_search(registry: SearchParamRegistry) -> None:
    assert rows(OBSERVATION, registry, "token", "code") == [
        {"system": "http://loinc.org", "code": "85354-9", "text_norm": "blood pressure bp panel"}]


def test_observation__effective_time_is_stored_in_utc(registry: SearchParamRegistry) -> None:
    assert rows(OBSERVATION, registry, "date", "date")[0]["low"] == datetime(2024, 3, 1, 9, 0)


def test_observation__patient_is_only_indexed_for_references_to_patients(registry: SearchParamRegistry) -> None:
    assert rows(OBSERVATION, registry, "reference", "patient") == []
    assert rows(OBSERVATION, registry, "reference", "subject")[0]["target_type"] == "Group"


def test_composite__components_of_one_match_share_a_group(registry: SearchParamRegistry) -> None:
    out = index_rows(OBSERVATION, registry)
    tokens = [(r["code"], r["grp"]) for r in out["token"] if r["param"] == "component-code-value-quantity"]
    values = [(r["value"], r["grp"]) for r in out["quantity"] if r["param"] == "component-code-value-quantity"]
    assert tokens == [("8480-6", 1), ("8462-4", 2)]
    assert values == [(120.0, 1), (80.5, 2)]


def test_quantity__keeps_the_implicit_precision_of_its_value(registry: SearchParamRegistry) -> None:
    found = rows(OBSERVATION, registry, "quantity", "component-value-quantity")
    assert [(r["value"], round(r["low"], 6), round(r["high"], 6), r["code"]) for r in found] == [
        (120.0, 119.5, 120.5, "mm[Hg]"), (80.5, 80.45, 80.55, "mm[Hg]")]


def test_encounter__an_open_period_runs_to_the_end_of_time(registry: SearchParamRegistry) -> None:
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "arrived",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                 "period": {"start": "2024-05-01T08:00:00Z"},
                 "serviceProvider": {"reference": "Organization/unit1"}}
    assert rows(encounter, registry, "date", "date") == [
        {"low": datetime(2024, 5, 1, 8, 0), "high": MAX_DT, "span": 3}]
    assert rows(encounter, registry, "token", "class")[0]["code"] == "VR"
    assert rows(encounter, registry, "reference", "service-provider")[0]["target_id"] == "unit1"


def test_task__patient_owner_and_business_status(registry: SearchParamRegistry) -> None:
    task = {"resourceType": "Task", "id": "t1", "status": "ready", "intent": "order",
            "businessStatus": {"coding": [{"system": "http://ex/ws", "code": "waiting"}]},
            "for": {"reference": "Patient/p1"}, "owner": {"reference": "Organization/unit1"},
            "focus": {"reference": "QuestionnaireResponse/qr1"},
            "restriction": {"period": {"end": "2024-05-01T12:00:00Z"}}}
    assert rows(task, registry, "reference", "patient")[0]["target_id"] == "p1"
    assert rows(task, registry, "reference", "owner")[0]["target_type"] == "Organization"
    assert rows(task, registry, "token", "business-status")[0]["code"] == "waiting"
    assert rows(task, registry, "token", "status")[0]["code"] == "ready"


def test_questionnaire_response__questionnaire_canonical_is_a_url(registry: SearchParamRegistry) -> None:
    qr = {"resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
          "questionnaire": "https://triage.ex/Questionnaire/fever|3", "subject": {"reference": "Patient/p1"},
          "authored": "2024-05-01T08:00:00Z"}
    assert rows(qr, registry, "reference", "questionnaire") == [
        {"target_type": "Questionnaire", "target_id": None, "url": "https://triage.ex/Questionnaire/fever"}]


def test_practitioner_role__hsa_identifier_and_organization(registry: SearchParamRegistry) -> None:
    role = {"resourceType": "PractitionerRole", "id": "r1", "identifier": [{"system": HSA, "value": "SE1"}],
            "practitioner": {"reference": "Practitioner/pr1"}, "organization": {"reference": "Organization/u1"}}
    assert rows(role, registry, "token", "identifier")[0] == {"system": HSA, "code": "SE1", "text_norm": None}
    assert rows(role, registry, "reference", "practitioner")[0]["target_id"] == "pr1"


def test_subscription__endpoint_is_a_uri_and_criteria_a_string(registry: SearchParamRegistry) -> None:
    sub = {"resourceType": "Subscription", "id": "s1", "status": "active", "criteria": "Task?status=ready",
           "channel": {"type": "rest-hook", "endpoint": "https://ehr.ex/hook"}}
    assert rows(sub, registry, "uri", "url") == [{"value": "https://ehr.ex/hook"}]
    assert rows(sub, registry, "string", "criteria")[0]["value_norm"] == "task?status=ready"


def test_malformed_values__are_skipped_without_failing_the_write(registry: SearchParamRegistry) -> None:
    broken = {"resourceType": "Patient", "id": "x", "birthDate": "not a date", "name": "not a list of names",
              "identifier": [{"system": 42}], "telecom": [None, "x"], "address": {"city": 7}}
    index_rows(broken, registry)
    assert rows(broken, registry, "date", "birthdate") == []


def test_unknown_resource_type__has_no_rows(registry: SearchParamRegistry) -> None:
    assert all(v == [] for v in index_rows({"resourceType": "Nonsense", "id": "1"}, registry).values())


def test_uncompilable_expression__is_logged_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    doc = json.loads(DATA_FILE.read_text())
    doc["params"] = [p for p in doc["params"] if p["code"] in ("_id", "identifier")] + [
        {"code": "odd", "url": "http://ex/odd", "type": "token", "base": ["Patient"],
         "expression": "Patient.name.memberOf('x')", "description": {"Patient": "odd"}}]
    path = tmp_path / "params.json"
    path.write_text(json.dumps(doc))
    registry = SearchParamRegistry.load(path)
    caplog.set_level(logging.WARNING, logger="fhir_api.indexing")
    out = index_rows(PATIENT, registry)
    assert [r["param"] for r in out["token"]] == ["identifier"]
    assert "odd" in caplog.text


def test_malformed_ranges_and_quantities__are_skipped_not_raised(registry: SearchParamRegistry) -> None:
    condition = {"resourceType": "Condition", "id": "c", "onsetRange": {"low": "ten"},
                 "abatementAge": {"value": "x"}, "code": {"coding": "not a list"}}
    out = index_rows(condition, registry)
    assert [r for r in out["quantity"] if r["param"] in ("onset-age", "abatement-age")] == []
