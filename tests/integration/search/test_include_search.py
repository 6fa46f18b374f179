"""_include and _revinclude: what comes along with the matches, once, and only if live."""

from __future__ import annotations

import pytest

from tests.integration.search.builders import encounter, observation, organization, patient, provenance, task
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def case(db: SearchDb) -> SearchDb:
    db.add_all([
        organization("region", "Region Skåne"),
        organization("u1", "Vårdcentralen Norr", part_of="region"),
        patient("p1", "Öberg", org="u1"),
        patient("p2", "Berg", org="u1"),
        encounter("e1", "p1", start="2024-01-01", unit="u1"),
        task("t1", "p1", "Organization/u1", encounter_id="e1"),
        task("t2", "p2", "Organization/u1"),
        observation("o1", "Patient/p1"),
        observation("o2", "Patient/p1"),
        provenance("prov1", "Task/t1"),
    ])
    return db


def included(db: SearchDb, rtype: str, query: str) -> set[str]:
    return {f"{t}/{i}" for t, i, _ in db.search(rtype, query).included}


def test_include__adds_the_referenced_resources_once(case: SearchDb) -> None:
    page = case.search("Task", "_include=Task:patient")
    assert [m[1] for m in page.matches] == ["t1", "t2"]
    assert {f"{t}/{i}" for t, i, _ in page.included} == {"Patient/p1", "Patient/p2"}
    assert len(page.included) == 2


def test_include__several_parameters_and_the_target_type_filter(case: SearchDb) -> None:
    assert included(case, "Task", "_id=t1&_include=Task:patient&_include=Task:encounter") == {
        "Patient/p1", "Encounter/e1"}
    assert included(case, "Task", "_id=t1&_include=Task:owner:Practitioner") == set()
    assert included(case, "Task", "_id=t1&_include=Task:owner:Organization") == {"Organization/u1"}


def test_include__wildcard_takes_every_reference(case: SearchDb) -> None:
    assert included(case, "Task", "_id=t1&_include=*") == {"Patient/p1", "Encounter/e1", "Organization/u1"}


def test_include__does_not_repeat_a_match(case: SearchDb) -> None:
    assert included(case, "Organization", "_include=Organization:partof") == set()
    assert included(case, "Organization", "_id=u1&_include=Organization:partof") == {"Organization/region"}


def test_include_iterate__follows_references_of_included_resources(case: SearchDb) -> None:
    query = "_id=t1&_include=Task:patient&_include:iterate=Patient:organization&_include:iterate=Organization:partof"
    assert included(case, "Task", query) == {"Patient/p1", "Organization/u1", "Organization/region"}
    plain = "_id=t1&_include=Task:patient&_include=Patient:organization"
    assert included(case, "Task", plain) == {"Patient/p1"}


def test_revinclude__adds_resources_that_point_at_the_matches(case: SearchDb) -> None:
    assert included(case, "Patient", "_id=p1&_revinclude=Observation:subject") == {
        "Observation/o1", "Observation/o2"}
    assert included(case, "Task", "_revinclude=Provenance:target") == {"Provenance/prov1"}


def test_revinclude__wildcard_takes_everything_pointing_here(case: SearchDb) -> None:
    assert included(case, "Encounter", "_revinclude=*") == {"Task/t1"}


def test_revinclude_iterate__then_include_goes_both_ways(case: SearchDb) -> None:
    query = "_id=p2&_revinclude=Task:patient&_revinclude:iterate=Provenance:target"
    assert included(case, "Patient", query) == {"Task/t2"}
    query = "_id=p1&_revinclude=Task:patient&_revinclude:iterate=Provenance:target"
    assert included(case, "Patient", query) == {"Task/t1", "Provenance/prov1"}


def test_include__skips_deleted_and_missing_targets(case: SearchDb) -> None:
    case.delete("Patient", "p2")
    case.add(task("t3", "nobody", "Organization/u1"))
    assert included(case, "Task", "_include=Task:patient") == {"Patient/p1"}


def test_include__only_for_the_page_of_matches(case: SearchDb) -> None:
    page = case.search("Task", "_include=Task:patient&_count=1")
    assert [m[1] for m in page.matches] == ["t1"]
    assert {i for _, i, _ in page.included} == {"p1"}


def test_include__content_is_the_stored_json(case: SearchDb) -> None:
    import orjson

    page = case.search("Task", "_id=t1&_include=Task:patient")
    assert orjson.loads(page.included[0][2])["name"][0]["family"] == "Öberg"
