"""Regional routing: the demo regions' files load, and cases go where their rules say."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cases.region_files import RegionCatalog, RegionFileError, parse_region
from cases.routing import CaseToRoute, local_advice, route
from triage.dispositions import COMPETENCES
from triage.vocabulary import load_vocabulary

REGIONS = Path(__file__).resolve().parents[3] / "cases" / "regions"
# Wednesday 2026-11-25: 10:00 and 23:30 in Stockholm (UTC+1).
DAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NIGHT = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def complaints() -> frozenset[str]:
    return frozenset(load_vocabulary().complaints)


@pytest.fixture
def catalog(complaints: frozenset[str]) -> RegionCatalog:
    return RegionCatalog(REGIONS, complaints, frozenset(COMPETENCES))


def case(disposition: str = "within-24h", competence: str = "nurse", complaint: str = "complaint-cough",
         age: int = 40) -> CaseToRoute:
    return CaseToRoute(disposition, competence, complaint, age)


def test_demo_regions__both_load(catalog: RegionCatalog) -> None:
    assert set(catalog.regions()) == {"norr", "syd"}


def test_route__daytime_case_goes_to_the_catch_all_unit(catalog: RegionCatalog) -> None:
    r = route(catalog.region("norr"), case(), DAY)
    assert (r.kind, r.unit, r.competence) == ("waiting-room", "SE2321000000-DIG1", "nurse")
    assert r.answer_by is not None and r.answer_by > DAY


def test_route__psychologist_cases_go_to_the_psychology_unit(catalog: RegionCatalog) -> None:
    r = route(catalog.region("syd"), case(competence="psychologist", complaint="complaint-low-mood-or-anxiety"), DAY)
    assert r.unit == "SE2321000000-PSY1"


def test_route__urgent_case_at_night_is_referred_to_1177_in_norr(catalog: RegionCatalog) -> None:
    r = route(catalog.region("norr"), case(disposition="urgent"), NIGHT)
    assert r.kind == "referred-out-of-hours" and r.message is not None
    assert "1177" in r.message.sv


def test_route__urgent_case_at_night_goes_to_the_jour_unit_in_syd(catalog: RegionCatalog) -> None:
    r = route(catalog.region("syd"), case(disposition="urgent"), NIGHT)
    assert r.unit == "SE2321000000-JOUR"


def test_route__non_urgent_case_at_night_waits_for_opening(catalog: RegionCatalog) -> None:
    r = route(catalog.region("syd"), case(disposition="within-week"), NIGHT)
    assert r.unit == "SE2321000000-VC02" and r.queued_until_open


def test_route__emergency_and_self_care_never_enter_a_waiting_room(catalog: RegionCatalog) -> None:
    assert route(catalog.region("norr"), case(disposition="emergency-112"), DAY).kind == "emergency"
    assert route(catalog.region("norr"), case(disposition="self-care"), DAY).kind == "self-care"


def test_local_advice__overrides_the_national_text_for_its_complaint(catalog: RegionCatalog) -> None:
    advice = local_advice(catalog.region("norr"), ["some-rule"], "complaint-sore-throat")
    assert advice is not None and "snabbtest" in advice.sv


def test_region_file__unknown_unit_is_refused_with_its_line(complaints: frozenset[str]) -> None:
    text = (REGIONS / "demo-norr.yaml").read_text(encoding="utf-8").replace(
        "  - unit: SE2321000000-DIG1", "  - unit: SE2321000000-NOPE")
    with pytest.raises(RegionFileError) as err:
        parse_region(text, "norr.yaml", complaints, frozenset(COMPETENCES))
    assert "not in units" in err.value.reason
    assert err.value.line == text.splitlines().index("  - unit: SE2321000000-NOPE") + 1


def test_region_file__unknown_complaint_code_is_refused(complaints: frozenset[str]) -> None:
    text = (REGIONS / "demo-norr.yaml").read_text(encoding="utf-8").replace(
        "complaint-pregnancy-or-after-birth", "complaint-pregnant")
    with pytest.raises(RegionFileError, match="unknown code"):
        parse_region(text, "norr.yaml", complaints, frozenset(COMPETENCES))


def test_region_file__without_a_catch_all_some_case_has_nowhere_to_go(complaints: frozenset[str]) -> None:
    text = (REGIONS / "demo-norr.yaml").read_text(encoding="utf-8").replace("  - unit: SE2321000000-DIG1\n", "")
    with pytest.raises(RegionFileError, match="no rule takes"):
        parse_region(text, "norr.yaml", complaints, frozenset(COMPETENCES))


def test_region_file__bad_opening_hours_are_refused(complaints: frozenset[str]) -> None:
    text = (REGIONS / "demo-syd.yaml").read_text(encoding="utf-8").replace('["08:00-16:00"]', '["16:00-08:00"]', 1)
    with pytest.raises(RegionFileError, match="ends before it starts"):
        parse_region(text, "syd.yaml", complaints, frozenset(COMPETENCES))


def test_catalog__a_change_is_picked_up_and_a_bad_change_keeps_the_old_rules(
    tmp_path: Path, complaints: frozenset[str]
) -> None:
    for f in REGIONS.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    ticks = iter(range(0, 1000, 10))
    catalog = RegionCatalog(tmp_path, complaints, frozenset(COMPETENCES), now=lambda: float(next(ticks)))
    norr = tmp_path / "demo-norr.yaml"
    norr.write_text(norr.read_text(encoding="utf-8").replace("Region Demo Norr", "Region Norr 2"), encoding="utf-8")
    os.utime(norr, (1, 1))
    assert catalog.region("norr").name == "Region Norr 2"
    norr.write_text("region: [", encoding="utf-8")
    os.utime(norr, (2, 2))
    assert catalog.region("norr").name == "Region Norr 2"


def test_catalog__a_bad_file_stops_start_up(tmp_path: Path, complaints: frozenset[str]) -> None:
    (tmp_path / "bad.yaml").write_text("region: {code: x}\n", encoding="utf-8")
    with pytest.raises(RegionFileError) as err:
        RegionCatalog(tmp_path, complaints, frozenset(COMPETENCES))
    assert str(err.value).startswith(str(tmp_path / "bad.yaml") + ":")
