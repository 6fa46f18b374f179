"""Check the personal number BankID returns before the hub trusts it as a citizen's identity.

Why: the number becomes the Patient identifier and the key of every access decision, so a
malformed one (a misconfigured test environment, a proxy mangling JSON) must stop the login
rather than create a wrong person. This is a small local check — 12 digits, a real birth date
(day + 60 for a samordningsnummer), the Luhn check digit. The login flow takes any callable, so
the hub can point it at the shared personnummer validator in `mappings` when that exists.
https://sv.wikipedia.org/wiki/Personnummer_i_Sverige
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

PersonalNumberCheck = Callable[[str], bool]

_DIGITS = frozenset("0123456789")
# Skatteverket adds 60 to the day of birth in a samordningsnummer.
_COORDINATION_OFFSET = 60


def _luhn_ok(digits: str) -> bool:
    """Check the Luhn digit over the ten digits YYMMDDNNNC (weights 2,1,2,1…)."""
    total = 0
    for i, ch in enumerate(digits):
        product = int(ch) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return total % 10 == 0


def is_coordination_number(number: str) -> bool:
    """Tell whether a 12-digit number is a samordningsnummer (day of birth plus 60)."""
    return len(number) == 12 and set(number) <= _DIGITS and int(number[6:8]) > _COORDINATION_OFFSET


def birth_date(number: str) -> dt.date | None:
    """Return the birth date a 12-digit number encodes, or None if it encodes none."""
    if len(number) != 12 or not set(number) <= _DIGITS:
        return None
    day = int(number[6:8])
    if day > _COORDINATION_OFFSET:
        day -= _COORDINATION_OFFSET
    try:
        return dt.date(int(number[0:4]), int(number[4:6]), day)
    except ValueError:
        return None


def is_valid_personal_number(number: str, *, today: dt.date | None = None) -> bool:
    """Check a 12-digit personnummer or samordningsnummer: a past birth date and the Luhn digit."""
    born = birth_date(number)
    if born is None or born > (today or dt.date.today()):
        return False
    return _luhn_ok(number[2:])
