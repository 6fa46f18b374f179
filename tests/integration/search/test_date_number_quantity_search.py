"""Date, number and quantity searches: prefixes, precision, time zones, ranges."""

from __future__ import annotations

import pytest

from tests.integration.search.builders import LOINC, UCUM, encounter, observation, patient
from tests.integration.search.helpers import SearchDb


@pytest.fixture
def visits(db: SearchDb) -> SearchDb:
    db.add_all([
        encounter("e2023", "p1", start="2023-06-01T08:00:00Z", end="2023-06-01T09:00:00Z"),
        encounter("e-jan", "p1", start="2024-01-10T08:00:00Z", end="2024-01-10T08:30:00Z"),
        encounter("e-feb", "p1", start="2024-02-01T23:30:00Z", end="2024-02-02T00:30:00Z"),
        encounter("e-long", "p1", start="2023-12-20", end="2024-03-01"),
        encounter("e-open", "p1", start="2024-02-15T10:00:00Z"),
    ])
    return db


def test_date_eq__matches_intervals_within_the_precision_given(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=2024-01") == {"e-jan"}
    assert visits.id_set("Encounter", "date=2024-01-10") == {"e-jan"}
    assert visits.id_set("Encounter", "date=2024") == {"e-jan", "e-feb"}


def test_date_ne__matches_intervals_not_within(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=ne2024") == {"e2023", "e-long", "e-open"}


def test_date_gt_lt__compare_with_the_end_and_the_start_of_the_interval(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=gt2024-02-01") == {"e-feb", "e-long", "e-open"}
    assert visits.id_set("Encounter", "date=lt2024-01-01") == {"e2023", "e-long"}


def test_date_ge_le__include_intervals_within_the_value(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=ge2024-02-01") == {"e-feb", "e-long", "e-open"}
    assert visits.id_set("Encounter", "date=le2024-01-10") == {"e2023", "e-jan", "e-long"}


def test_date_range__two_prefixes_on_one_parameter(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=ge2024-01-01&date=lt2024-02-01") == {"e-jan", "e-long"}
    assert visits.id_set("Encounter", "date=ge2024-01-01&date=le2024-02-02") == {"e-jan", "e-long", "e-feb"}
    assert visits.id_set("Encounter", "date=ge2024-01-05&date=le2024-01-20") == {"e-jan", "e-long"}


def test_date_sa_eb__need_the_whole_interval_after_or_before(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=sa2024-01-31") == {"e-feb", "e-open"}
    assert visits.id_set("Encounter", "date=eb2024-01-01") == {"e2023"}


def test_date_ap__matches_overlapping_intervals(visits: SearchDb) -> None:
    assert visits.id_set("Encounter", "date=ap2024-02-20") == {"e-long", "e-open"}


def test_date__with_a_time_zone_is_compared_in_utc(visits: SearchDb) -> None:
    # 2024-02-02T00:15+01:00 is 2024-02-01T23:15Z, before e-feb starts.
    assert visits.id_set("Encounter", "date=lt2024-02-02T00:15:00%2B01:00") == {"e2023", "e-jan", "e-long"}
    assert visits.id_set("Encounter", "date=ap2024-02-02T01:15:00%2B01:00") == {"e-feb", "e-long"}
    assert visits.id_set("Encounter", "date=ap2024-02-01T18:45:00-05:00") == {"e-feb", "e-long"}


def test_date__an_open_period_matches_everything_after_its_start(visits: SearchDb) -> None:
    assert "e-open" in visits.id_set("Encounter", "date=gt2099")
    assert "e-open" not in visits.id_set("Encounter", "date=lt2024-02-15")


def test_date__of_a_birth_date_covers_the_whole_day(db: SearchDb) -> None:
    db.add_all([patient("p1", birth="1990-05-17"), patient("p2", birth="1990-05-18"), patient("p3", birth="1991")])
    assert db.id_set("Patient", "birthdate=1990-05-17") == {"p1"}
    assert db.id_set("Patient", "birthdate=lt1990-05-18") == {"p1"}
    assert db.id_set("Patient", "birthdate=1990") == {"p1", "p2"}
    assert db.id_set("Patient", "birthdate=ge1991-06-01") == {"p3"}
    assert db.id_set("Patient", "birthdate=1991-06-01") == set()


def test_date__comma_means_either_date(db: SearchDb) -> None:
    db.add_all([patient("p1", birth="1990-05-17"), patient("p2", birth="1980-01-01"), patient("p3", birth="1970")])
    assert db.id_set("Patient", "birthdate=1990,1970") == {"p1", "p3"}


def test_last_updated__searches_the_stored_time(db: SearchDb) -> None:
    from datetime import datetime

    db.add(patient("old"), last_updated=datetime(2023, 5, 1, 12, 0))
    db.add(patient("new"), last_updated=datetime(2024, 5, 1, 12, 0))
    assert db.id_set("Patient", "_lastUpdated=gt2023") == {"new"}
    assert db.id_set("Patient", "_lastUpdated=2023-05") == {"old"}
    assert db.id_set("Patient", "_lastUpdated=ge2023-05-01T14:00:00%2B02:00&_lastUpdated=lt2023-05-02") == {"old"}
    assert db.id_set("Patient", "_lastUpdated=gt2023-05-01T14:00:00%2B02:00") == {"new"}


@pytest.fixture
def vitals(db: SearchDb) -> SearchDb:
    db.add_all([
        observation("o1", "Patient/p1", value=99.4),
        observation("o2", "Patient/p1", value=100),
        observation("o3", "Patient/p1", value=100.4),
        observation("o4", "Patient/p1", value=120, unit="kg"),
        observation("o5", "Patient/p1"),
    ])
    return db


def test_quantity_eq__honours_the_precision_of_the_search_value(vitals: SearchDb) -> None:
    assert vitals.id_set("Observation", "value-quantity=100") == {"o2", "o3"}
    assert vitals.id_set("Observation", "value-quantity=100.0") == {"o2"}
    assert vitals.id_set("Observation", "value-quantity=1e2") == {"o1", "o2", "o3", "o4"}


def test_quantity_prefixes__compare_exactly(vitals: SearchDb) -> None:
    assert vitals.id_set("Observation", "value-quantity=gt100") == {"o3", "o4"}
    assert vitals.id_set("Observation", "value-quantity=ge100") == {"o2", "o3", "o4"}
    assert vitals.id_set("Observation", "value-quantity=lt100") == {"o1"}
    assert vitals.id_set("Observation", "value-quantity=le100") == {"o1", "o2"}
    assert vitals.id_set("Observation", "value-quantity=ne100") == {"o1", "o4"}
    assert vitals.id_set("Observation", "value-quantity=ap100") == {"o1", "o2", "o3"}


def test_quantity__system_and_code_narrow_the_match(vitals: SearchDb) -> None:
    assert vitals.id_set("Observation", f"value-quantity=gt50|{UCUM}|kg") == {"o4"}
    assert vitals.id_set("Observation", "value-quantity=gt50||mm[Hg]") == {"o1", "o2", "o3"}
    assert vitals.id_set("Observation", "value-quantity=gt50|http://other|kg") == set()


def test_quantity__range_on_one_parameter(vitals: SearchDb) -> None:
    assert vitals.id_set("Observation", "value-quantity=gt99.9&value-quantity=lt101") == {"o2", "o3"}


def test_number__searches_decimal_elements(db: SearchDb) -> None:
    db.add({"resourceType": "RiskAssessment", "id": "r1", "status": "final",
            "subject": {"reference": "Patient/p1"}, "prediction": [{"probabilityDecimal": 0.25}]})
    db.add({"resourceType": "RiskAssessment", "id": "r2", "status": "final",
            "subject": {"reference": "Patient/p1"}, "prediction": [{"probabilityDecimal": 0.7}]})
    assert db.id_set("RiskAssessment", "probability=gt0.5") == {"r2"}
    assert db.id_set("RiskAssessment", "probability=0.25") == {"r1"}


def test_quantity__of_a_component_matches_either_component(db: SearchDb) -> None:
    from tests.integration.search.builders import blood_pressure

    db.add_all([blood_pressure("bp1", "Patient/p1", 150, 95), blood_pressure("bp2", "Patient/p1", 120, 80)])
    assert db.id_set("Observation", "component-value-quantity=gt140") == {"bp1"}
    assert db.id_set("Observation", "component-value-quantity=lt85") == {"bp2"}
    assert db.id_set("Observation", f"code={LOINC}|85354-9&component-value-quantity=95") == {"bp1"}


def test_date__narrow_and_wide_windows_find_intervals_of_every_width(db: SearchDb) -> None:
    db.add_all([
        encounter("point", "p1", start="2024-04-15T10:00:00Z", end="2024-04-15T10:20:00Z"),
        encounter("month", "p1", start="2024-04", end="2024-04"),
        encounter("year", "p1", start="2024", end="2024"),
        encounter("decade", "p1", start="2020-01-01", end="2029-12-31"),
        encounter("open", "p1", start="2023-01-01"),
        encounter("other", "p1", start="2024-06-01", end="2024-06-02"),
    ])
    everything = {"point", "month", "year", "decade", "open"}
    assert db.id_set("Encounter", "date=ap2024-04-15") == everything
    assert db.id_set("Encounter", "date=ge2024-04-15&date=lt2024-04-16") == everything
    assert db.id_set("Encounter", "date=ge2024-04-01&date=lt2024-05-01") == everything
    assert db.id_set("Encounter", "date=ge2024-04-16T00:00:00Z&date=le2024-04-16") == everything - {"point"}
