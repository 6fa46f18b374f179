"""String and token searches, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from tests.integration.search.builders import HSA, PNR, observation, organization, patient
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def people(db: SearchDb) -> SearchDb:
    db.add_all([
        patient("p1", "Öberg", "Åsa", pnr="191212121212", gender="female",
                telecom=[{"system": "email", "value": "asa@ex.se"}, {"system": "phone", "value": "0701"}]),
        patient("p2", "Oberstein", "Olle", pnr="190101010101", gender="male"),
        patient("p3", "Lindberg", "Karl", gender="male",
                identifier=[{"system": "urn:oid:1.2.3", "value": "191212121212"}]),
        patient("p4", "Berg", "Eva", gender="female", active=False,
                identifier=[{"value": "no-system"}]),
    ])
    return db


def test_string_search__matches_the_start_ignoring_case_and_accents(people: SearchDb) -> None:
    assert people.id_set("Patient", "family=OBER") == {"p1", "p2"}
    assert people.id_set("Patient", "family=öberg") == {"p1"}
    assert people.id_set("Patient", "name=asa") == {"p1"}


def test_string_search__does_not_match_the_middle_by_default(people: SearchDb) -> None:
    assert people.id_set("Patient", "family=berg") == {"p4"}


def test_string_search__contains_matches_anywhere(people: SearchDb) -> None:
    assert people.id_set("Patient", "family:contains=BERG") == {"p1", "p3", "p4"}


def test_string_search__exact_matches_case_and_accents_exactly(people: SearchDb) -> None:
    assert people.id_set("Patient", "family:exact=Öberg") == {"p1"}
    assert people.id_set("Patient", "family:exact=Oberg") == set()
    assert people.id_set("Patient", "family:exact=öberg") == set()


def test_string_search__comma_is_or_and_repetition_is_and(people: SearchDb) -> None:
    assert people.id_set("Patient", "family=lind,berg") == {"p3", "p4"}
    assert people.id_set("Patient", "name=karl&name=lind") == {"p3"}
    assert people.id_set("Patient", "name=karl&name=berg") == set()


def test_string_search__escaped_comma_is_part_of_the_value(db: SearchDb) -> None:
    db.add(organization("o1", "Kliniken, Lund"))
    db.add(organization("o2", "Kliniken"))
    assert db.id_set("Organization", r"name=kliniken\, lund") == {"o1"}


def test_string_search__wildcard_characters_are_literal_in_contains(db: SearchDb) -> None:
    db.add(organization("o1", "100% Vård"))
    db.add(organization("o2", "1000 Vård"))
    assert db.id_set("Organization", "name:contains=0%") == {"o1"}
    assert db.id_set("Organization", "name:contains=_") == set()


def test_token_search__system_and_code_matches_only_that_system(people: SearchDb) -> None:
    assert people.id_set("Patient", f"identifier={PNR}|191212121212") == {"p1"}


def test_token_search__code_alone_matches_any_system(people: SearchDb) -> None:
    assert people.id_set("Patient", "identifier=191212121212") == {"p1", "p3"}


def test_token_search__empty_system_matches_codes_without_a_system(people: SearchDb) -> None:
    assert people.id_set("Patient", "identifier=|no-system") == {"p4"}
    assert people.id_set("Patient", "identifier=|191212121212") == set()


def test_token_search__system_alone_matches_any_code_in_it(people: SearchDb) -> None:
    assert people.id_set("Patient", f"identifier={PNR}|") == {"p1", "p2"}


def test_token_search__codes_are_case_sensitive(people: SearchDb) -> None:
    assert people.id_set("Patient", "gender=Female") == set()
    assert people.id_set("Patient", "gender=female") == {"p1", "p4"}


def test_token_search__not_excludes_matches_and_keeps_resources_without_a_value(people: SearchDb) -> None:
    people.add(patient("p5", "Utan", "Kön"))
    assert people.id_set("Patient", "gender:not=male") == {"p1", "p4", "p5"}


def test_token_search__boolean_values_are_true_and_false(people: SearchDb) -> None:
    assert people.id_set("Patient", "active=false") == {"p4"}


def test_token_search__contact_points_are_searched_by_value(people: SearchDb) -> None:
    assert people.id_set("Patient", "email=asa@ex.se") == {"p1"}
    assert people.id_set("Patient", "phone=asa@ex.se") == set()
    assert people.id_set("Patient", "telecom=0701") == {"p1"}


def test_token_text__matches_the_start_of_any_word_of_text_or_display(db: SearchDb) -> None:
    o1, o2 = observation("o1", "Patient/p1"), observation("o2", "Patient/p1")
    o1["code"] = {"coding": [{"system": "x", "code": "1", "display": "Övre blodtryck"}], "text": "Systoliskt"}
    o2["code"] = {"text": "Puls"}
    db.add_all([o1, o2])
    assert db.id_set("Observation", "code:text=blodtr") == {"o1"}
    assert db.id_set("Observation", "code:text=systol") == {"o1"}
    assert db.id_set("Observation", "code:text=puls") == {"o2"}
    assert db.id_set("Observation", "code:text=tryck") == set()


def test_id_search__matches_logical_ids_and_not_excludes_them(people: SearchDb) -> None:
    assert people.id_set("Patient", "_id=p1,p3") == {"p1", "p3"}
    assert people.id_set("Patient", "_id:not=p1") == {"p2", "p3", "p4"}


def test_tag_and_security__are_tokens_on_meta(db: SearchDb) -> None:
    db.add(patient("p1", meta={"tag": [{"system": "http://ex/t", "code": "vip"}],
                               "security": [{"system": "http://ex/s", "code": "R"}]}))
    db.add(patient("p2"))
    assert db.id_set("Patient", "_tag=http://ex/t|vip") == {"p1"}
    assert db.id_set("Patient", "_security=R") == {"p1"}
    assert db.id_set("Patient", "_tag:not=vip") == {"p2"}


def test_hsa_identifier__finds_the_care_unit(db: SearchDb) -> None:
    db.add(organization("u1", hsa="SE2321000016-1"))
    db.add(organization("u2", hsa="SE2321000016-2"))
    assert db.ids("Organization", f"identifier={HSA}|SE2321000016-2") == ["u2"]


def test_deleted_resources__are_never_found(people: SearchDb) -> None:
    people.delete("Patient", "p1")
    assert people.id_set("Patient", "gender=female") == {"p4"}
    assert people.id_set("Patient", "_id=p1") == set()
