"""URI, composite and :missing searches, and searches across types."""

from __future__ import annotations

import pytest

from tests.integration.search.builders import LOINC, blood_pressure, observation, patient
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def value_sets(db: SearchDb) -> SearchDb:
    for vid, url in [("v1", "http://ex.se/fhir/ValueSet/triage"), ("v2", "http://ex.se/fhir/ValueSet/triage/sub"),
                     ("v3", "http://ex.se/fhir/ValueSet"), ("v4", "http://other.se/ValueSet/x")]:
        db.add({"resourceType": "ValueSet", "id": vid, "status": "active", "url": url})
    return db


def test_uri__matches_the_whole_uri_exactly(value_sets: SearchDb) -> None:
    assert value_sets.id_set("ValueSet", "url=http://ex.se/fhir/ValueSet/triage") == {"v1"}
    assert value_sets.id_set("ValueSet", "url=http://ex.se/fhir/ValueSet/TRIAGE") == set()


def test_uri_below__matches_the_uri_and_everything_under_it(value_sets: SearchDb) -> None:
    assert value_sets.id_set("ValueSet", "url:below=http://ex.se/fhir/ValueSet/triage") == {"v1", "v2"}


def test_uri_above__matches_the_uri_and_its_parents(value_sets: SearchDb) -> None:
    assert value_sets.id_set("ValueSet", "url:above=http://ex.se/fhir/ValueSet/triage/sub/x") == {"v1", "v2", "v3"}


def test_profile__is_a_uri_on_meta(db: SearchDb) -> None:
    db.add(patient("p1", meta={"profile": ["http://ex.se/StructureDefinition/SEPatient"]}))
    db.add(patient("p2"))
    assert db.id_set("Patient", "_profile=http://ex.se/StructureDefinition/SEPatient") == {"p1"}


@pytest.fixture
def pressures(db: SearchDb) -> SearchDb:
    db.add_all([
        blood_pressure("high", "Patient/p1", 150, 80),
        blood_pressure("low-sys", "Patient/p1", 100, 95),
        observation("pulse", "Patient/p1", code="8867-4", value=95, unit="/min"),
    ])
    return db


def test_composite__both_components_must_match_in_the_same_component(pressures: SearchDb) -> None:
    # "high" has a diastolic of 80 and "low-sys" a diastolic of 95: code and value must pair up.
    assert pressures.id_set("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt140") == {"high"}
    assert pressures.id_set("Observation", f"component-code-value-quantity={LOINC}|8462-4$gt90") == {"low-sys"}
    assert pressures.id_set("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt96") == {
        "high", "low-sys"}
    assert pressures.id_set("Observation", f"component-code-value-quantity={LOINC}|8480-6$95") == set()


def test_composite__on_the_observation_itself(pressures: SearchDb) -> None:
    assert pressures.id_set("Observation", "code-value-quantity=8867-4$ge95") == {"pulse"}
    assert pressures.id_set("Observation", "code-value-quantity=8480-6$ge95") == set()


def test_composite__comma_means_either_pair(pressures: SearchDb) -> None:
    query = f"component-code-value-quantity={LOINC}|8480-6$gt140,{LOINC}|8462-4$gt90"
    assert pressures.id_set("Observation", query) == {"high", "low-sys"}


def test_composite__combo_looks_at_the_observation_and_its_components(pressures: SearchDb) -> None:
    assert pressures.id_set("Observation", "combo-code-value-quantity=8867-4$95,8462-4$95") == {"pulse", "low-sys"}


def test_missing__works_on_strings_tokens_and_dates(db: SearchDb) -> None:
    db.add_all([patient("p1", birth="1990", gender="male"), patient("p2")])
    assert db.id_set("Patient", "birthdate:missing=true") == {"p2"}
    assert db.id_set("Patient", "gender:missing=false") == {"p1"}
    assert db.id_set("Patient", "name:missing=true") == set()
    assert db.id_set("Patient", "_id:missing=false") == {"p1", "p2"}


def test_system_search__finds_several_types_by_a_shared_parameter(db: SearchDb) -> None:
    db.add_all([patient("p1", meta={"tag": [{"code": "demo"}]}), observation("o1", "Patient/p1"),
                {"resourceType": "Practitioner", "id": "pr1", "meta": {"tag": [{"code": "demo"}]}}])
    page = db.search(None, "_tag=demo")
    assert {(t, i) for t, i, _ in page.matches} == {("Patient", "p1"), ("Practitioner", "pr1")}
    assert db.id_set(None, "_type=Practitioner&_tag=demo") == {"pr1"}
    assert db.id_set(None, "_type=Patient,Practitioner&name=anders") == {"p1"}
    assert db.id_set(None, "_id=o1") == {"o1"}
