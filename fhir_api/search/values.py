"""Normalise values the same way when indexing a resource and when reading a search.

Both sides must agree exactly: a string is matched on its lower-cased, accent-stripped form;
a date is an interval [low, high] in naive UTC whose width is the precision it was written
with; a decimal carries the interval its significant figures imply (1.5 means [1.45, 1.55)).
Upper bounds are inclusive for dates (last microsecond) and exclusive for decimals.
https://hl7.org/fhir/R4/search.html#string
https://hl7.org/fhir/R4/search.html#date
https://hl7.org/fhir/R4/search.html#number
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

STRING_MAX = 255
URI_MAX = 2000  # PostgreSQL b-tree entries must stay well under 2,700 bytes
MIN_DT = datetime(1, 1, 1)
MAX_DT = datetime(9999, 12, 31, 23, 59, 59, 999999)
HUGE = 1e308  # open ends of a Range; finite so cursors and JSON stay simple

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_MICRO = timedelta(microseconds=1)
# Upper bound of (high - low) for each idx_date.span class but the last, which is open.
SPAN_WIDTHS = (timedelta(days=1), timedelta(days=32), timedelta(days=367))


def normalize(text: str) -> str:
    """Return `text` lower-cased, without accents and surrounding space, cut to the column size."""
    text = text.strip()
    if text.isascii():
        return text.lower()[:STRING_MAX]
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()[:STRING_MAX]


def date_range(text: str) -> tuple[datetime, datetime]:
    """Return the naive-UTC interval a FHIR date, dateTime or instant covers; ValueError if bad."""
    m = _DATE.match(text.strip())
    if not m:
        raise ValueError(f"not a FHIR date: {text!r}")
    year = int(m["y"])
    if m["m"] is None:
        low = datetime(year, 1, 1)
        return low, MAX_DT if year == 9999 else low.replace(year=year + 1) - _MICRO
    month = int(m["m"])
    if m["d"] is None:
        low = datetime(year, month, 1)
        days = calendar.monthrange(year, month)[1]
        return low, low + timedelta(days=days) - _MICRO if year < 9999 or month < 12 else MAX_DT
    day = int(m["d"])
    if m["H"] is None:
        low = datetime(year, month, day)
        return low, low + timedelta(days=1) - _MICRO if low.date() < MAX_DT.date() else MAX_DT
    hour, minute = int(m["H"]), int(m["M"])
    if hour > 23 or minute > 59:
        raise ValueError(f"not a FHIR time: {text!r}")
    if m["S"] is None:
        low, width = datetime(year, month, day, hour, minute), timedelta(minutes=1)
    else:
        fraction = m["f"] or ""
        micro = int((fraction + "000000")[:6])
        second = min(int(m["S"]), 59)  # a leap second is the last second of its minute
        low = datetime(year, month, day, hour, minute, second, micro)
        width = timedelta(seconds=10 ** -len(fraction)) if len(fraction) < 6 else _MICRO
    offset = _offset(m["tz"])
    try:
        low -= offset
        high = low + width - _MICRO
    except OverflowError:
        return (MIN_DT, low + width - _MICRO) if offset > timedelta(0) else (low, MAX_DT)
    return low, high


def _offset(tz: str | None) -> timedelta:
    if not tz or tz == "Z":
        return timedelta(0)  # times without a zone are taken as UTC
    sign = -1 if tz[0] == "-" else 1
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    return sign * timedelta(hours=hours, minutes=minutes)


def span_class(low: datetime, high: datetime) -> int:
    """Return the width class of an interval: 0 a day or less, 1 a month, 2 a year, 3 more."""
    width = high - low
    for n, limit in enumerate(SPAN_WIDTHS):
        if width <= limit:
            return n
    return len(SPAN_WIDTHS)


def to_naive_utc(value: datetime) -> datetime:
    """Turn an aware datetime into naive UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def decimal_range(text: str) -> tuple[float, float, float]:
    """Return (value, low, high) for a decimal written as `text`: high is exclusive."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {text!r}")
    exponent = number.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1)
    return float(number), float(number - half), float(number + half)


def number_range(value: int | float) -> tuple[float, float, float]:
    """Return (value, low, high) for a JSON number, its precision taken from how it prints."""
    if isinstance(value, int):
        return float(value), value - 0.5, value + 0.5
    text = repr(value)
    if "e" in text or "n" in text:  # exponent, inf or nan: let Decimal decide
        return decimal_range(text)
    half = 0.5 * 10.0 ** -len(text.partition(".")[2])
    return value, value - half, value + half


def split_escaped(value: str, sep: str) -> list[str]:
    """Split on `sep` except where escaped with a backslash; escapes stay for the next split."""
    if "\\" not in value:
        return value.split(sep)
    parts, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """Remove the search escapes `\\,` `\\$` `\\|` and `\\\\`."""
    if "\\" not in value:
        return value
    return re.sub(r"\\([,$|\\])", r"\1", value)


def split_prefix(value: str) -> tuple[str, str]:
    """Split an ordered value into (prefix, rest); no prefix means `eq`."""
    if len(value) > 2 and value[:2] in PREFIXES and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value
