"""Keyset paging and _sort: every match exactly once, in order, while data changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from fhir_api.search import parse_query, run_search
from tests.integration.search.builders import observation, patient
from tests.integration.search.helpers import SearchDb


def walk(db: SearchDb, rtype: str, params: list[tuple[str, str]], *,
         between_pages: object = None) -> list[list[str]]:
    """Follow next cursors to the end; return the ids of each page."""
    pages, cursor = [], None
    while True:
        page = db.search(rtype, params + ([("_cursor", cursor)] if cursor else []))
        pages.append([m[1] for m in page.matches])
        if callable(between_pages):
            between_pages(len(pages))
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_paging__walks_every_match_once_in_rid_order(db: SearchDb) -> None:
    db.add_all([patient(f"p{i:02d}", birth="1990") for i in range(23)])
    pages = walk(db, "Patient", [("birthdate", "1990"), ("_count", "5")])
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == [f"p{i:02d}" for i in range(23)]


def test_paging__stays_exact_while_resources_are_added_and_deleted_between_pages(db: SearchDb) -> None:
    db.add_all([patient(f"p{i:02d}", birth="1990") for i in range(12)])
    added = []

    def churn(page_number: int) -> None:
        if page_number == 1:
            db.delete("Patient", "p05")  # not yet seen: must not appear
            db.add(patient("new1", birth="1990"))  # after the cursor: must appear once
            added.append("new1")
        if page_number == 2:
            db.delete("Patient", "p00")  # already seen: no effect on what follows

    pages = walk(db, "Patient", [("birthdate", "1990"), ("_count", "4")], between_pages=churn)
    seen = [i for page in pages for i in page]
    expected = [f"p{i:02d}" for i in range(12) if i != 5] + added
    assert seen == expected
    assert len(seen) == len(set(seen))


def test_paging__previous_cursor_returns_the_page_before(db: SearchDb) -> None:
    db.add_all([patient(f"p{i:02d}") for i in range(10)])
    first = db.search("Patient", "_count=4")
    second = db.search("Patient", [("_count", "4"), ("_cursor", first.next_cursor or "")])
    assert first.prev_cursor is None
    back = db.search("Patient", [("_count", "4"), ("_cursor", second.prev_cursor or "")])
    assert [m[1] for m in back.matches] == [m[1] for m in first.matches]
    assert back.prev_cursor is None and back.next_cursor is not None
    again = db.search("Patient", [("_count", "4"), ("_cursor", back.next_cursor or "")])
    assert [m[1] for m in again.matches] == [m[1] for m in second.matches]


def test_paging__past_the_end_after_deletions_is_empty_and_can_go_back(db: SearchDb) -> None:
    db.add_all([patient(f"p{i}") for i in range(4)])
    first = db.search("Patient", "_count=2")
    db.delete("Patient", "p2")
    db.delete("Patient", "p3")
    empty = db.search("Patient", [("_count", "2"), ("_cursor", first.next_cursor or "")])
    assert empty.matches == [] and empty.next_cursor is None
    back = db.search("Patient", [("_count", "2"), ("_cursor", empty.prev_cursor or "")])
    assert [m[1] for m in back.matches] == ["p0", "p1"]


@pytest.mark.parametrize("sort", ["family", "-family", "birthdate,-_id", "-birthdate,family",
                                  "_lastUpdated", "-_lastUpdated", "gender,-birthdate"])
def test_sort__paging_gives_the_same_order_as_one_page(db: SearchDb, sort: str) -> None:
    names = ["Öberg", "Berg", "lind", "Åström", "Berg", "Ek", "Zorn", "ek"]
    for i, name in enumerate(names):
        birth = f"19{50 + i % 3}-01-0{1 + i % 2}" if i != 3 else None
        db.add(patient(f"p{i}", name, birth=birth, gender=None if i == 6 else ["male", "female"][i % 2]))
    whole = db.ids("Patient", [("_sort", sort), ("_count", "100")])
    paged = [i for page in walk(db, "Patient", [("_sort", sort), ("_count", "3")]) for i in page]
    assert paged == whole and sorted(whole) == sorted(f"p{i}" for i in range(8))


def test_sort__by_string_ascending_puts_missing_values_last(db: SearchDb) -> None:
    db.add_all([patient("b", "Berg"), patient("a", "Ahl"), {"resourceType": "Patient", "id": "none"},
                patient("c", "Öberg")])
    assert db.ids("Patient", "_sort=family") == ["a", "b", "c", "none"]
    assert db.ids("Patient", "_sort=-family") == ["c", "b", "a", "none"]


def test_sort__by_date_and_then_id(db: SearchDb) -> None:
    db.add_all([observation("o3", "Patient/p1", when="2024-01-03"), observation("o1", "Patient/p1", when="2024-01-01"),
                observation("o2b", "Patient/p1", when="2024-01-02"),
                observation("o2a", "Patient/p1", when="2024-01-02")])
    assert db.ids("Observation", "_sort=date,_id") == ["o1", "o2a", "o2b", "o3"]
    assert db.ids("Observation", "_sort=-date,-_id") == ["o3", "o2b", "o2a", "o1"]


def test_sort__by_quantity_and_by_token(db: SearchDb) -> None:
    db.add_all([observation("x", "Patient/p1", code="b", value=3), observation("y", "Patient/p1", code="a", value=1),
                observation("z", "Patient/p1", code="c", value=2)])
    assert db.ids("Observation", "_sort=value-quantity") == ["y", "z", "x"]
    assert db.ids("Observation", "_sort=-code") == ["z", "x", "y"]


def test_sort__by_last_updated_follows_the_write_time(db: SearchDb) -> None:
    t0 = datetime(2024, 1, 1)
    for i, pid in enumerate(["c", "a", "b"]):
        db.add(patient(pid), last_updated=t0 + timedelta(minutes=i))
    assert db.ids("Patient", "_sort=-_lastUpdated") == ["b", "a", "c"]


def test_count__zero_gives_only_the_total(db: SearchDb) -> None:
    db.add_all([patient(f"p{i}") for i in range(3)])
    page = db.search("Patient", "_count=0")
    assert (page.matches, page.total, page.next_cursor) == ([], 3, None)


def test_run_search__takes_a_parsed_query_and_a_connection(db: SearchDb) -> None:
    db.add(patient("p1"))
    query = parse_query("Patient", [("name", "anna")], db.registry, strict=True, default_count=10, max_count=10)
    with db.engine.connect() as conn:
        assert [m[1] for m in run_search(conn, query, db.registry).matches] == ["p1"]


def test_paging__a_day_window_pages_from_the_date_index_exactly_as_the_general_plan(db: SearchDb) -> None:
    # One date parameter alone takes its first page from the index (execute.py); a second,
    # always-true criterion forces the general plan. Both must page through the same matches.
    inside = [observation(f"in{i}", "Patient/p1", when=f"2024-03-01T{i:02d}:30:00Z") for i in range(7)]
    outside = [observation(f"out{i}", "Patient/p1", when=f"2024-03-0{2 + i}T08:00:00Z") for i in range(3)]
    spanning = observation("month", "Patient/p1", effectiveDateTime=None,
                           effectivePeriod={"start": "2024-02-15", "end": "2024-03-15"})
    del spanning["effectiveDateTime"]
    db.add_all([outside[0], *inside[:4], spanning, outside[1], *inside[4:], outside[2]])
    db.delete("Observation", "in2")
    day = [("date", "ge2024-03-01"), ("date", "lt2024-03-02"), ("_count", "3")]

    alone = walk(db, "Observation", day)
    general = walk(db, "Observation", [*day, ("status", "final")])

    assert alone == general
    assert [i for page in alone for i in page] == ["in0", "in1", "in3", "month", "in4", "in5", "in6"]
    assert db.search("Observation", [*day, ("_total", "accurate")]).total == 7
