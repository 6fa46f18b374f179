"""Keyset cursors: opaque, tied to their sort, and compiled to the right comparison."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import column
from sqlalchemy.dialects import sqlite

from fhir_api.search.model import SortKey
from fhir_api.search.paging import decode_cursor, encode_cursor, keyset_clause

SORT = (SortKey("date", "date", True), SortKey("_id", "_id", False))


def sql(clause: object) -> str:
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_cursor__round_trips_keys_of_every_kind() -> None:
    text = encode_cursor("-date,_id", False, [datetime(2024, 1, 2, 3, 4, 5, 6), "p1"], 42, inclusive=True)
    cursor = decode_cursor(text, "-date,_id", SORT)
    assert (cursor.forward, cursor.inclusive, cursor.keys, cursor.rid) == (
        False, True, (datetime(2024, 1, 2, 3, 4, 5, 6), "p1"), 42)


def test_cursor__is_url_safe() -> None:
    text = encode_cursor("", True, [], 10**12)
    assert text.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("text", ["", "abc", encode_cursor("x", True, [], "1"), encode_cursor("", True, ["x"], 1)])
def test_cursor__garbled_or_from_another_sort_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        decode_cursor(str(text), "", ())


def test_keyset__one_direction_is_a_row_value_comparison() -> None:
    a, rid = column("a"), column("rid")
    assert sql(keyset_clause([(a, False), (rid, False)], [1, 2], True, False)) == "(a, rid) > (1, 2)"
    assert sql(keyset_clause([(a, True), (rid, True)], [1, 2], True, False)) == "(a, rid) < (1, 2)"
    assert sql(keyset_clause([(a, False), (rid, False)], [1, 2], False, True)) == "(a, rid) <= (1, 2)"


def test_keyset__mixed_directions_expand_to_an_or_of_prefixes() -> None:
    a, b, rid = column("a"), column("b"), column("rid")
    clause = sql(keyset_clause([(a, True), (b, False), (rid, False)], [1, 2, 3], True, False))
    assert clause == "a < 1 OR a = 1 AND b > 2 OR a = 1 AND b = 2 AND rid > 3"
