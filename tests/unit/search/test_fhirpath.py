"""The FHIRPath subset: what R4 search expressions need, evaluated on plain JSON dicts."""

from __future__ import annotations

import logging

import pytest

from fhir_api.fhirpath import FhirPathError, compile_path, split_union
from fhir_api.searchparams import SearchParamRegistry

CHOICES = {"value", "effective", "deceased", "onset", "occurred"}

OBS = {
    "resourceType": "Observation",
    "id": "o1",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}], "text": "Systolic"},
    "subject": {"reference": "Patient/p1"},
    "performer": [{"reference": "Practitioner/pr1"}, {"reference": "Organization/org1"}],
    "effectivePeriod": {"start": "2024-01-01"},
    "valueQuantity": {"value": 120, "unit": "mmHg"},
    "extension": [{"url": "http://ex/a", "valueString": "A"}, {"url": "http://ex/b", "valueString": "B"}],
}


def run(expression: str, resource: dict[str, object] = OBS) -> list[object]:
    return compile_path(expression, CHOICES)(resource)


def test_path__steps_into_objects_and_flattens_lists() -> None:
    assert run("Observation.code.coding.code") == ["8480-6"]
    assert run("Observation.performer.reference") == ["Practitioner/pr1", "Organization/org1"]


def test_path__leading_type_name_must_match_the_resource_type() -> None:
    assert run("Patient.code") == []
    assert run("Resource.id") == ["o1"]


def test_choice_element__is_found_under_its_typed_key() -> None:
    assert run("Observation.effective") == [{"start": "2024-01-01"}]
    assert run("Observation.value") == [{"value": 120, "unit": "mmHg"}]


def test_as__picks_only_that_type_of_a_choice() -> None:
    assert run("(Observation.value as Quantity)") == [{"value": 120, "unit": "mmHg"}]
    assert run("Observation.value.as(Quantity).unit") == ["mmHg"]
    assert run("(Observation.value as CodeableConcept).text") == []
    assert run("(Observation.effective as dateTime)") == []


def test_as_quantity__also_matches_the_quantity_profiles_such_as_age() -> None:
    condition = {"resourceType": "Condition", "onsetAge": {"value": 40, "unit": "a"}}
    assert run("Condition.onset.as(Quantity)", condition) == [{"value": 40, "unit": "a"}]
    assert run("Condition.onset.as(Age)", condition) == [{"value": 40, "unit": "a"}]


def test_union__joins_both_sides_without_duplicates() -> None:
    assert run("Observation.id | Observation.id | Observation.code.text") == ["o1", "Systolic"]


def test_where_resolve_is__keeps_references_to_that_type_only() -> None:
    assert run("Observation.subject.where(resolve() is Patient)") == [{"reference": "Patient/p1"}]
    assert run("Observation.performer.where(resolve() is Organization).reference") == ["Organization/org1"]
    assert run("Observation.subject.where(resolve() is Group)") == []


def test_resolve_is__reads_the_type_from_an_absolute_url_or_the_type_element() -> None:
    task = {"resourceType": "Task", "for": {"reference": "https://x.se/fhir/Patient/9/_history/2"}}
    assert run("Task.for.where(resolve() is Patient)", task) == [task["for"]]
    typed = {"resourceType": "Task", "for": {"type": "Patient", "identifier": {"value": "1"}}}
    assert run("Task.for.where(resolve() is Patient)", typed) == [typed["for"]]


def test_where__compares_a_child_with_a_string_literal() -> None:
    patient = {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"},
                                                      {"system": "email", "value": "a@b.se"}]}
    assert run("Patient.telecom.where(system='email').value", patient) == ["a@b.se"]


def test_extension__filters_by_url() -> None:
    assert run("Observation.extension('http://ex/b').value") == ["B"]


def test_exists_and_not_equal__give_one_boolean() -> None:
    expression = "Patient.deceased.exists() and Patient.deceased != false"
    assert run(expression, {"resourceType": "Patient", "deceasedBoolean": True}) == [True]
    assert run(expression, {"resourceType": "Patient", "deceasedBoolean": False}) == [False]
    assert run(expression, {"resourceType": "Patient", "deceasedDateTime": "2020"}) == [True]
    assert run(expression, {"resourceType": "Patient"}) == [False]


def test_indexer__takes_one_item() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"id": "a"}}, {"resource": {"id": "b"}}]}
    assert run("Bundle.entry[0].resource.id", bundle) == ["a"]


def test_percent_resource__is_the_root_even_inside_a_component() -> None:
    fn = compile_path("%resource.id | text", CHOICES)
    component = OBS["code"]
    assert fn(component, OBS) == ["o1", "Systolic"]


def test_missing_elements__give_an_empty_collection_not_an_error() -> None:
    assert run("Observation.note.text") == []
    assert run("Observation.code.coding.where(system='x').code") == []


def test_unsupported_function__fails_at_compile_time() -> None:
    with pytest.raises(FhirPathError):
        compile_path("Observation.code.memberOf('http://x')")
    with pytest.raises(FhirPathError):
        compile_path("Observation.code +")


def test_split_union__ignores_bars_inside_parentheses_and_quotes() -> None:
    assert split_union("A.b | (C.d | C.e) | F.where(x='|')") == ["A.b", "(C.d | C.e)", "F.where(x='|')"]


def test_every_r4_search_expression__compiles(caplog: pytest.LogCaptureFixture) -> None:
    registry = SearchParamRegistry.load()
    caplog.set_level(logging.WARNING)
    failures = []
    for sp in registry.raw:
        for expression in [sp.get("expression")] + [c["expression"] for c in sp.get("component", [])]:
            if not expression:
                continue
            try:
                compile_path(expression, registry.choice_elements)
            except FhirPathError as exc:
                failures.append((sp["code"], expression, str(exc)))
    assert failures == []
