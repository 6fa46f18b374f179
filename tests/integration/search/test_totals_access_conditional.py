"""Totals, the access hook (nothing hidden may leak), conditional matching and warnings."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ColumnElement, FromClause, false

from fhir_api.outcomes import BadRequest
from fhir_api.search import ESTIMATE_CAP
from tests.integration.search.builders import PNR, observation, organization, patient, task
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def many(db: SearchDb) -> SearchDb:
    db.add_all([patient(f"p{i}", "Berg" if i % 2 else "Ek") for i in range(7)])
    return db


def test_total__is_exact_when_every_match_fits_on_the_page(many: SearchDb) -> None:
    assert many.search("Patient", "family=berg").total == 3


def test_total__is_left_out_by_default_when_there_are_more_pages(many: SearchDb) -> None:
    assert many.search("Patient", "_count=2").total is None


def test_total__accurate_and_estimate_count_every_match(many: SearchDb) -> None:
    assert many.search("Patient", "_count=2&_total=accurate").total == 7
    assert many.search("Patient", "_count=2&_total=estimate").total == 7
    assert ESTIMATE_CAP >= 100


def test_total__none_is_never_computed(many: SearchDb) -> None:
    assert many.search("Patient", "_total=none").total is None


def test_summary_count__returns_no_resources_only_the_total(many: SearchDb) -> None:
    page = many.search("Patient", "family=ek&_summary=count")
    assert (page.matches, page.total, page.summary) == ([], 4, "count")


def test_presentation_settings__are_passed_on_in_the_page(many: SearchDb) -> None:
    assert many.search("Patient", "_elements=name").elements == ("name",)
    assert many.search("Patient", "_summary=true").summary == "true"


def hide_unit_u2(res_type: str, table: FromClause) -> ColumnElement[bool] | None:
    """Stand-in for PDL filtering: Tasks of unit u2 and every Observation are hidden."""
    if res_type == "Task":
        return table.c.res_id != "t2"
    if res_type == "Observation":
        return false()
    return None


@pytest.fixture
def secrets(db: SearchDb) -> SearchDb:
    db.add_all([
        organization("u1"), organization("u2"),
        patient("p1", "Öberg"),
        task("t1", "p1", "Organization/u1"), task("t2", "p1", "Organization/u2"),
        observation("o1", "Patient/p1"),
    ])
    return db


def test_access_hook__hides_matches_and_their_total(secrets: SearchDb) -> None:
    page = secrets.search("Task", "_total=accurate", restrict=hide_unit_u2)
    assert ([m[1] for m in page.matches], page.total) == (["t1"], 1)
    assert secrets.search("Observation", "_summary=count", restrict=hide_unit_u2).total == 0


def test_access_hook__hides_revincluded_and_included_resources(secrets: SearchDb) -> None:
    page = secrets.search("Patient", "_revinclude=Task:patient&_revinclude=Observation:subject",
                          restrict=hide_unit_u2)
    assert {i for _, i, _ in page.included} == {"t1"}
    page = secrets.search("Organization", "_revinclude=Task:owner", restrict=hide_unit_u2)
    assert {i for _, i, _ in page.included} == {"t1"}


def test_access_hook__applies_to_chained_targets(secrets: SearchDb) -> None:
    secrets.add({"resourceType": "Provenance", "id": "pv", "target": [{"reference": "Task/t2"}],
                 "recorded": "2024-01-01T00:00:00Z"})
    assert secrets.id_set("Provenance", "target:Task.owner=u2") == {"pv"}
    assert secrets.id_set("Provenance", "target:Task.owner=u2", restrict=hide_unit_u2) == set()


def test_access_hook__applies_to_system_searches(secrets: SearchDb) -> None:
    assert secrets.id_set(None, "_id=t1,t2,o1,p1", restrict=hide_unit_u2) == {"t1", "p1"}


def test_find_matches__returns_rids_and_ids_of_every_match(db: SearchDb) -> None:
    db.add_all([patient("p1", pnr="1"), patient("p2", pnr="2"), patient("p3", pnr="2")])
    assert db.find("Patient", f"identifier={PNR}|1") == ["p1"]
    assert db.find("Patient", "identifier=2") == ["p2", "p3"]
    assert db.find("Patient", "identifier=3") == []


def test_find_matches__is_strict_about_unknown_parameters(db: SearchDb) -> None:
    with pytest.raises(BadRequest) as info:
        db.find("Patient", "identifer=1")
    assert info.value.issues[0].expression == ("identifer",)


def test_find_matches__ignores_paging(db: SearchDb) -> None:
    db.add_all([patient(f"p{i}", pnr="same") for i in range(3)])
    assert len(db.find("Patient", "identifier=same&_count=1")) == 3


def test_unknown_parameter__comes_back_as_a_warning(db: SearchDb) -> None:
    db.add(patient("p1"))
    page = db.search("Patient", "nickname=x")
    assert [m[1] for m in page.matches] == ["p1"]
    assert [(w.severity, w.expression) for w in page.warnings] == [("warning", ("nickname",))]


def test_include_limit__stops_with_a_warning(db: SearchDb) -> None:
    from fhir_api.search import parse_query, run_search

    db.add_all([patient("p1")] + [observation(f"o{i}", "Patient/p1") for i in range(5)])
    query = parse_query("Patient", [("_revinclude", "Observation:subject")], db.registry,
                        strict=False, default_count=10, max_count=10)
    with db.engine.connect() as conn:
        page = run_search(conn, query, db.registry, max_included=3)
    assert len(page.included) == 3
    assert page.warnings[0].code == "too-costly"


def test_every_search__is_one_statement_plus_one_per_include_level(db: SearchDb) -> None:
    from sqlalchemy import event

    db.add_all([patient("p1", org="u1"), organization("u1"), task("t1", "p1", "Organization/u1")])
    statements: list[Any] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    db.search("Task", "owner.name=vård&_include=Task:patient&_include:iterate=Patient:organization")
    assert len(statements) == 3  # page, include level 1, include level 2 (nothing new after that)
