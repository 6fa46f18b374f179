"""Reference searches: local, absolute and canonical targets, type modifiers and chains."""

from __future__ import annotations

import pytest

from tests.integration.search.builders import PNR, encounter, observation, organization, patient, task
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def clinic(db: SearchDb) -> SearchDb:
    db.add_all([
        organization("u1", "Vårdcentralen Norr", hsa="SE1"),
        organization("u2", "Vårdcentralen Syd", hsa="SE2"),
        patient("p1", "Öberg", "Åsa", pnr="191212121212", org="u1"),
        patient("p2", "Svensson", "Sven", pnr="190101010101", org="u2"),
        {"resourceType": "Group", "id": "p1", "type": "person", "actual": True},
        observation("o1", "Patient/p1"),
        observation("o2", "Patient/p2"),
        observation("o3", "Group/p1"),
        observation("o4", "http://other.example/fhir/Patient/p1"),
        task("t1", "p1", "Organization/u1"),
        task("t2", "p2", "PractitionerRole/r1"),
    ])
    return db


def test_reference__type_and_id_matches_that_resource_only(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject=Patient/p1") == {"o1"}


def test_reference__bare_id_matches_any_type_with_that_id(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject=p1") == {"o1", "o3"}


def test_reference__type_modifier_restricts_a_bare_id(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject:Group=p1") == {"o3"}


def test_reference__patient_parameter_only_indexes_patient_subjects(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "patient=p1") == {"o1"}


def test_reference__absolute_url_matches_only_that_url(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject=http://other.example/fhir/Patient/p1") == {"o4"}


def test_reference__comma_is_or(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject=Patient/p1,Patient/p2") == {"o1", "o2"}


def test_reference__versioned_value_matches_the_resource(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject=Patient/p2/_history/4") == {"o2"}


def test_reference__owner_finds_the_waiting_room_of_a_unit(clinic: SearchDb) -> None:
    assert clinic.ids("Task", "owner=Organization/u1&status=ready") == ["t1"]
    assert clinic.ids("Task", "owner:PractitionerRole=r1") == ["t2"]


def test_canonical__is_searched_by_url_without_version(db: SearchDb) -> None:
    db.add({"resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
            "questionnaire": "https://triage.ex/Questionnaire/fever|3"})
    db.add({"resourceType": "QuestionnaireResponse", "id": "qr2", "status": "completed",
            "questionnaire": "https://triage.ex/Questionnaire/rash"})
    assert db.id_set("QuestionnaireResponse", "questionnaire=https://triage.ex/Questionnaire/fever") == {"qr1"}
    assert db.id_set("QuestionnaireResponse", "questionnaire=https://triage.ex/Questionnaire/fever|3") == {"qr1"}


def test_chain__follows_the_reference_to_a_target_parameter(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", f"subject:Patient.identifier={PNR}|191212121212") == {"o1"}
    assert clinic.id_set("Observation", "subject.name=svens") == {"o2"}


def test_chain__without_type_uses_every_target_type_that_has_the_parameter(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject._id=p1") == {"o1", "o3"}
    assert clinic.id_set("Observation", "subject:Patient._id=p1") == {"o1"}


def test_chain__through_a_reference_parameter_of_the_target(clinic: SearchDb) -> None:
    assert clinic.id_set("Patient", "organization.identifier=SE2") == {"p2"}
    assert clinic.id_set("Task", "patient.organization=Organization/u2") == {"t2"}


def test_chain__ignores_deleted_targets(clinic: SearchDb) -> None:
    clinic.delete("Patient", "p2")
    assert clinic.id_set("Observation", "subject.name=svens") == set()


def test_chain__and_plain_criteria_combine(clinic: SearchDb) -> None:
    clinic.add(encounter("e1", "p1", start="2024-01-01", unit="u1"))
    clinic.add(encounter("e2", "p2", start="2024-01-01", unit="u1"))
    assert clinic.id_set("Encounter", "service-provider=u1&subject.name=öberg") == {"e1"}


def test_chain__on_a_modifier_of_the_target_parameter(clinic: SearchDb) -> None:
    assert clinic.id_set("Observation", "subject:Patient.name:exact=Öberg") == {"o1"}
    assert clinic.id_set("Observation", "subject:Patient.name:exact=oberg") == set()


def test_missing__is_true_for_resources_without_the_reference(db: SearchDb) -> None:
    db.add_all([patient("p1", org="u1"), patient("p2")])
    assert db.id_set("Patient", "organization:missing=true") == {"p2"}
    assert db.id_set("Patient", "organization:missing=false") == {"p1"}
