"""The arithmetic of the region's figures: percentiles, empty regions, safe CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub.statistics.figures import CaseFacts, Claim, Names, as_csv, compute, nearest_rank


def test_nearest_rank__p90_of_ten_values_is_the_ninth() -> None:
    assert nearest_rank([float(v) for v in range(10, 0, -1)], 0.9) == 9.0


def test_nearest_rank__p90_of_one_value_is_that_value() -> None:
    assert nearest_rank([7.0], 0.9) == 7.0


def test_compute__a_region_without_cases_has_no_share_rather_than_a_division_by_zero() -> None:
    figures = compute([], Names({}, {}), first=date(2025, 3, 1), last=date(2025, 3, 2))
    assert (figures["cases"], figures["selfCare"], figures["waitingTimes"]) == (0, {"cases": 0, "share": None}, [])


def test_as_csv__a_name_that_looks_like_a_formula_is_quoted_for_spreadsheets() -> None:
    opened = datetime(2025, 3, 3, 8, tzinfo=UTC)
    case = CaseFacts("t", opened, "urgent", "fever", "u", True,
                     (Claim("r", "u", datetime(2025, 3, 3, 9, tzinfo=UTC)),))
    figures = compute([case], Names({"u": "Unit"}, {"r": "=HYPERLINK(\"x\")"}), first=date(2025, 3, 3),
                      last=date(2025, 3, 3))
    assert figures["waitingTimes"][0]["medianMinutes"] == 60.0
    assert "claims,,r,'=HYPERLINK" in as_csv(figures).replace('"', "")
