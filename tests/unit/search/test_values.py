"""Normalisation shared by indexing and searching: strings, date intervals, decimals, escapes."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_api.search.values import (
    MAX_DT,
    date_range,
    decimal_range,
    normalize,
    number_range,
    span_class,
    split_escaped,
    split_prefix,
    unescape,
)


def test_normalize__lowercases_and_strips_accents_and_swedish_letters() -> None:
    assert normalize("  Åsa ÖBERG-Lindé ") == "asa oberg-linde"
    assert normalize("Straße") == "strasse"


def test_normalize__cuts_to_the_column_size() -> None:
    assert len(normalize("x" * 1000)) == 255


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2024", datetime(2024, 1, 1), datetime(2024, 12, 31, 23, 59, 59, 999999)),
        ("2024-02", datetime(2024, 2, 1), datetime(2024, 2, 29, 23, 59, 59, 999999)),
        ("2024-02-03", datetime(2024, 2, 3), datetime(2024, 2, 3, 23, 59, 59, 999999)),
        ("2024-02-03T10:15", datetime(2024, 2, 3, 10, 15), datetime(2024, 2, 3, 10, 15, 59, 999999)),
        ("2024-02-03T10:15:30Z", datetime(2024, 2, 3, 10, 15, 30), datetime(2024, 2, 3, 10, 15, 30, 999999)),
        ("2024-02-03T10:15:30.5Z", datetime(2024, 2, 3, 10, 15, 30, 500000),
         datetime(2024, 2, 3, 10, 15, 30, 599999)),
    ],
)
def test_date_range__covers_exactly_the_precision_given(text: str, low: datetime, high: datetime) -> None:
    assert date_range(text) == (low, high)


def test_date_range__converts_offsets_to_utc() -> None:
    assert date_range("2024-06-01T10:00:00+02:00")[0] == datetime(2024, 6, 1, 8, 0)
    assert date_range("2024-06-01T23:30:00-05:00")[0] == datetime(2024, 6, 2, 4, 30)


def test_date_range__of_the_last_year_ends_at_the_maximum() -> None:
    assert date_range("9999")[1] == MAX_DT


@pytest.mark.parametrize("bad", ["2024-13", "2024-02-30", "24", "2024-01-01T25:00", "yesterday", ""])
def test_date_range__rejects_what_is_not_a_fhir_date(bad: str) -> None:
    with pytest.raises(ValueError):
        date_range(bad)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_date_range__of_every_precision_contains_the_instant(moment: datetime) -> None:
    for text in (moment.strftime("%Y"), moment.strftime("%Y-%m"), moment.strftime("%Y-%m-%d"),
                 moment.strftime("%Y-%m-%dT%H:%M:%SZ")):
        low, high = date_range(text)
        assert low <= moment.replace(microsecond=0) <= high


def test_span_class__grows_with_the_width_of_the_interval() -> None:
    assert span_class(*date_range("2024-01-01")) == 0
    assert span_class(*date_range("2024-01")) == 1
    assert span_class(*date_range("2024")) == 2
    assert span_class(datetime(2020, 1, 1), MAX_DT) == 3


def test_decimal_range__follows_the_significant_figures() -> None:
    assert decimal_range("1.5") == (1.5, 1.45, 1.55)
    assert decimal_range("100") == (100.0, 99.5, 100.5)
    assert decimal_range("100.00") == (100.0, 99.995, 100.005)


def test_decimal_range__rejects_what_is_not_a_number() -> None:
    for bad in ("abc", "1,5", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            decimal_range(bad)


def test_number_range__of_json_numbers_matches_their_printed_precision() -> None:
    value, low, high = number_range(80.5)
    assert (value, round(low, 6), round(high, 6)) == (80.5, 80.45, 80.55)
    assert number_range(120) == (120.0, 119.5, 120.5)


def test_split_escaped__keeps_escaped_separators_for_later() -> None:
    assert split_escaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert split_escaped("x|y|z", "|") == ["x", "y", "z"]
    assert unescape(r"a\,b\|c\$d\\e") == "a,b|c$d\\e"


@given(st.lists(st.text(alphabet="ab,|$\\ ", max_size=6), min_size=1, max_size=4))
def test_split_escaped__undoes_escaping_of_any_values(values: list[str]) -> None:
    escaped = ",".join(v.replace("\\", "\\\\").replace(",", "\\,") for v in values)
    assert [unescape(p) for p in split_escaped(escaped, ",")] == values


def test_split_prefix__reads_the_two_letter_comparators_only() -> None:
    assert split_prefix("ge2024") == ("ge", "2024")
    assert split_prefix("2024") == ("eq", "2024")
    assert split_prefix("ap5.4") == ("ap", "5.4")
    assert split_prefix("xx5") == ("eq", "xx5")
