"""Parse and validate Swedish personnummer and samordningsnummer wherever they enter the hub.

A number reaches the hub from BankID claims, the population register, FHIR identifiers, RIV-TA
messages and people typing it; all of them go through `parse_personal_identity`, so every
place agrees on one canonical form (12 digits, no separator) and on what is wrong with a bad
one. The message of `InvalidPersonalIdentity` says exactly that, in words a clinician or a
citizen can act on. Pure: no I/O, today's date is a parameter.
Folkbokföringslagen (SFS 1991:481) 18 § and 18 a §; Skatteverket's brochure SKV 704:
https://sv.wikipedia.org/wiki/Personnummer_i_Sverige
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Literal

from cases.principals import PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM

# A samordningsnummer is written with 60 added to the day of birth (SFS 1991:481 18 a §).
COORDINATION_DAY_OFFSET = 60
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")

Sex = Literal["female", "male"]


class InvalidPersonalIdentity(ValueError):
    """A personnummer or samordningsnummer that is not one; the message says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PersonalIdentity:
    """A valid personnummer or samordningsnummer, in its 12-digit canonical form."""

    number: str
    birth_date: date
    sex: Sex
    is_coordination_number: bool

    def __str__(self) -> str:
        return self.number

    @property
    def identifier_system(self) -> str:
        """Return the FHIR identifier system this kind of number belongs to."""
        return SAMORDNINGSNUMMER_SYSTEM if self.is_coordination_number else PERSONNUMMER_SYSTEM

    def age_on(self, day: date) -> int:
        """Return the person's age in whole years on the given day."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    def short_form(self, today: date | None = None) -> str:
        """Write the 10-digit form Skatteverket prints: YYMMDD-NNNC, or `+` from the 100th year."""
        today = today or date.today()
        separator = "+" if self.age_on(today) >= 100 else "-"
        return f"{self.number[2:8]}{separator}{self.number[8:]}"


def luhn_check_digit(nine_digits: str) -> int:
    """Return the Luhn check digit over the first nine digits of the 10-digit form."""
    total = 0
    for index, char in enumerate(nine_digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def parse_personal_identity(value: str, today: date | None = None) -> PersonalIdentity:
    """Validate a personnummer or samordningsnummer and return its canonical form.

    Accepts YYYYMMDDNNNC, YYYYMMDD-NNNC, YYMMDDNNNC, YYMMDD-NNNC and YYMMDD+NNNC. A 10-digit
    number gets the century that makes the person younger than 100 on `today`, or 100 or older
    when written with `+`, which is how Skatteverket writes the number of someone that old.
    """
    today = today or date.today()
    text = value.strip()
    digits, separator = _split(text)
    rest = digits[-8:]
    month, day_written = int(rest[0:2]), int(rest[2:4])
    coordination = day_written > COORDINATION_DAY_OFFSET
    if len(digits) == 12:
        year = int(digits[:4])
    else:
        day = day_written - COORDINATION_DAY_OFFSET if coordination else day_written
        year = _infer_year(int(digits[:2]), month, day, separator, today)
    birth_date = _birth_date(year, month, day_written, coordination)
    if birth_date > today:
        raise InvalidPersonalIdentity(f"the birth date {birth_date.isoformat()} is in the future")
    ten = digits[-10:]
    expected = luhn_check_digit(ten[:9])
    if int(ten[9]) != expected:
        raise InvalidPersonalIdentity(f"the check digit should be {expected}, not {ten[9]}")
    sex: Sex = "male" if int(ten[8]) % 2 else "female"
    return PersonalIdentity(number=f"{year:04d}{rest}", birth_date=birth_date, sex=sex,
                            is_coordination_number=coordination)


def is_personal_identity(value: str, today: date | None = None) -> bool:
    """Tell whether the value is a valid personnummer or samordningsnummer."""
    try:
        parse_personal_identity(value, today)
    except InvalidPersonalIdentity:
        return False
    return True


def _split(text: str) -> tuple[str, str]:
    """Return the digits and the separator (`-`, `+` or ``), or say why the shape is wrong."""
    if not text:
        raise InvalidPersonalIdentity("the number is empty")
    separator = ""
    body = text
    if len(text) > 4 and text[-5] in "-+":
        separator = text[-5]
        body = text[:-5] + text[-4:]
    for char in body:
        if not char.isdigit() or not char.isascii():
            raise InvalidPersonalIdentity(
                f"{char!r} is not allowed: write digits only, with '-' or '+' before the last four")
    if len(body) not in (10, 12):
        raise InvalidPersonalIdentity(f"the number has {len(body)} digits; it should have 10 or 12")
    if separator == "+" and len(body) == 12:
        # '+' only replaces the century that a 10-digit number leaves out; with 12 digits it
        # would contradict the year written (SKV 704).
        raise InvalidPersonalIdentity("'+' is only used with 10 digits; write a 12-digit number without it")
    return body, separator


def _infer_year(two_digits: int, month: int, day: int, separator: str, today: date) -> int:
    """Pick the century that makes the person younger than 100 on `today`, or older with `+`."""
    year = today.year - (today.year - two_digits) % 100
    if year == today.year and (month, day) > (today.month, today.day):
        year -= 100
    if separator == "+":
        year -= 100
    return year


def _birth_date(year: int, month: int, day_written: int, coordination: bool) -> date:
    """Return the date of birth the number states, or say why that date does not exist."""
    if not 1 <= month <= 12:
        raise InvalidPersonalIdentity(f"month {month:02d} does not exist")
    day = day_written - COORDINATION_DAY_OFFSET if coordination else day_written
    days_in_month = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days_in_month:
        if coordination:
            raise InvalidPersonalIdentity(
                f"day {day_written} is not a samordningsnummer day for {MONTH_NAMES[month - 1]} {year}: "
                f"it should be {COORDINATION_DAY_OFFSET + 1}–{COORDINATION_DAY_OFFSET + days_in_month} "
                "(the day of birth plus 60)")
        raise InvalidPersonalIdentity(
            f"day {day_written:02d} does not exist in {MONTH_NAMES[month - 1]} {year}")
    return date(year, month, day)
