"""Personnummer and samordningsnummer: Skatteverket's test numbers, every written form, every fault."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.principals import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM
from mappings.personnummer import (
    InvalidPersonalIdentity,
    is_personal_identity,
    luhn_check_digit,
    parse_personal_identity,
)

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize("written", ["191212121212", "19121212-1212", "121212+1212", " 121212+1212 "])
def test_tolvan_tolvansson_is_read_in_every_written_form(written: str) -> None:
    person = parse_personal_identity(written, TODAY)
    assert person.number == "191212121212"
    assert person.birth_date == date(1912, 12, 12)
    assert person.sex == "male"
    assert not person.is_coordination_number
    assert person.identifier_system == PERSONNUMMER_SYSTEM


@pytest.mark.parametrize(("written", "number", "born", "sex"), [
    ("198112189876", "198112189876", date(1981, 12, 18), "male"),
    ("811218-9876", "198112189876", date(1981, 12, 18), "male"),
    ("201401022387", "201401022387", date(2014, 1, 2), "female"),
    ("1401022387", "201401022387", date(2014, 1, 2), "female"),
    ("196408233234", "196408233234", date(1964, 8, 23), "male"),
])
def test_skatteverkets_test_numbers_are_valid(written: str, number: str, born: date, sex: str) -> None:
    person = parse_personal_identity(written, TODAY)
    assert (person.number, person.birth_date, person.sex) == (number, born, sex)


def test_a_samordningsnummer_has_sixty_added_to_the_day_and_keeps_it_in_canonical_form() -> None:
    person = parse_personal_identity("701063-2391", TODAY)
    assert person.number == "197010632391"
    assert person.birth_date == date(1970, 10, 3)
    assert person.is_coordination_number
    assert person.sex == "male"
    assert person.identifier_system == SAMORDNINGSNUMMER_SYSTEM


def test_a_ten_digit_number_gets_the_century_that_makes_the_person_younger_than_a_hundred() -> None:
    assert parse_personal_identity("250601-0004", TODAY).birth_date == date(2025, 6, 1)
    # Born on 2 June, which has not come yet this year: a hundred years earlier.
    assert parse_personal_identity("250602-0003", TODAY).birth_date == date(1925, 6, 2)


def test_a_plus_means_a_hundred_years_or_older() -> None:
    assert parse_personal_identity("811218+9876", TODAY).birth_date == date(1881, 12, 18)


def test_the_short_form_uses_a_plus_from_the_hundredth_year() -> None:
    tolvan = parse_personal_identity("191212121212", TODAY)
    assert tolvan.short_form(TODAY) == "121212+1212"
    assert parse_personal_identity("198112189876", TODAY).short_form(TODAY) == "811218-9876"


def test_the_age_counts_whole_years_up_to_the_birthday() -> None:
    lilly = parse_personal_identity("201401022387", TODAY)
    assert lilly.age_on(date(2032, 1, 1)) == 17
    assert lilly.age_on(date(2032, 1, 2)) == 18


def test_a_leap_day_exists_only_in_a_leap_year() -> None:
    number = "20000229" + "000"
    full = number + str(luhn_check_digit(number[2:]))
    assert parse_personal_identity(full, TODAY).birth_date == date(2000, 2, 29)
    with pytest.raises(InvalidPersonalIdentity, match="day 29 does not exist in February 1900"):
        parse_personal_identity("19000229" + "0000", TODAY)


@pytest.mark.parametrize(("written", "reason"), [
    ("191212121213", "the check digit should be 2, not 3"),
    ("19121312-1212", "month 13 does not exist"),
    ("19120012-1212", "month 00 does not exist"),
    ("19120231-1212", "day 31 does not exist in February 1912"),
    ("19121200-1212", "day 00 does not exist in December 1912"),
    ("19120292-1212", "day 92 is not a samordningsnummer day for February 1912: it should be 61–89"),
    ("19121212121", "the number has 11 digits; it should have 10 or 12"),
    ("1912121212123", "the number has 13 digits; it should have 10 or 12"),
    ("", "the number is empty"),
    ("   ", "the number is empty"),
    ("19121212 1212", "' ' is not allowed"),
    ("1912121X1212", "'X' is not allowed"),
    ("191212-121212", "'-' is not allowed"),
    ("19121212+1212", "'+' is only used with 10 digits"),
    ("20300101-0008", "the birth date 2030-01-01 is in the future"),
])
def test_each_fault_is_named(written: str, reason: str) -> None:
    with pytest.raises(InvalidPersonalIdentity) as caught:
        parse_personal_identity(written, TODAY)
    assert reason in str(caught.value)
    assert caught.value.reason == str(caught.value)


def test_the_check_digit_is_checked_over_the_ten_digit_form_even_when_twelve_are_given() -> None:
    # 1912 and 2012 share the ten-digit form, so they share the check digit.
    assert luhn_check_digit("121212121") == 2
    assert is_personal_identity("201212121212", TODAY)


def test_is_personal_identity_answers_without_raising() -> None:
    assert is_personal_identity("191212121212", TODAY)
    assert not is_personal_identity("191212121213", TODAY)


def test_today_defaults_to_the_real_date() -> None:
    assert parse_personal_identity("191212121212").number == "191212121212"


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.integers(0, 999), st.booleans())
def test_every_number_written_with_a_valid_check_digit_round_trips(born: date, serial: int, coordination: bool) -> None:
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    twelve = f"{born.year}{nine[2:]}{luhn_check_digit(nine)}"
    person = parse_personal_identity(twelve, TODAY)
    assert person.number == twelve
    assert person.birth_date == born
    assert person.is_coordination_number is coordination
    assert parse_personal_identity(person.short_form(TODAY), TODAY) == person
