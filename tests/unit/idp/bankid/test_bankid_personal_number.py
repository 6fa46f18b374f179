"""Check the local personnummer check the login flow uses until the hub's shared validator replaces it."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.idp.bankid.personal_number import birth_date, is_coordination_number, is_valid_personal_number


@pytest.mark.parametrize("number", ["199001012385", "198112289874", "201001012341", "198112889871"])
def test_personal_number__a_well_formed_number_passes(number: str) -> None:
    assert is_valid_personal_number(number)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("199001012384", "the Luhn check digit is wrong"),
        ("199002302385", "30 February is no date"),
        ("9001012385", "ten digits: the century is missing"),
        ("19900101-2385", "a separator is not a digit"),
        ("１９９００１０１２３８５", "full-width digits are not ASCII digits"),
        ("", "empty"),
    ],
)
def test_personal_number__a_malformed_number_fails(number: str, why: str) -> None:
    assert not is_valid_personal_number(number), why


def test_personal_number__a_birth_date_after_today_fails() -> None:
    assert not is_valid_personal_number("201001012341", today=dt.date(2009, 12, 31))
    assert is_valid_personal_number("201001012341", today=dt.date(2010, 1, 1))


def test_personal_number__a_samordningsnummer_has_sixty_added_to_the_day() -> None:
    assert is_coordination_number("198112889871")
    assert not is_coordination_number("198112289874")
    assert birth_date("198112889871") == dt.date(1981, 12, 28)
