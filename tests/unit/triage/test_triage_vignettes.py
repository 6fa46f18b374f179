"""The engine must reach, on our own vignette set, the figures docs/triage.md claims."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.catalog import Catalog
from triage.engine import next_question
from triage.evaluation import Report, evaluate, load_vignettes

VIGNETTES = Path(__file__).resolve().parents[3] / "triage" / "vignettes"


@pytest.fixture(scope="module")
def own_report(catalog: Catalog) -> Report:
    return evaluate(
        lambda qr: next_question(qr, catalog=catalog), load_vignettes(VIGNETTES / "ingang-vignettes.jsonl")
    )


def test_vignettes__own_set_is_large_and_covers_every_complaint(catalog: Catalog) -> None:
    vignettes = load_vignettes(VIGNETTES / "ingang-vignettes.jsonl")
    assert len(vignettes) >= 150
    assert {v.complaint for v in vignettes} == set(catalog.vocabulary.complaints)
    assert {v.gold for v in vignettes} == {"emergency", "urgent", "non-urgent", "self-care"}
    assert any(v.age_years < 1 for v in vignettes) and any(v.age_years >= 75 for v in vignettes)
    for vignette in vignettes:
        unknown = set(vignette.findings) - set(catalog.vocabulary.findings)
        assert not unknown, f"{vignette.id} uses codes outside the vocabulary: {unknown}"


def test_vignettes__own_set_reaches_claimed_accuracy_and_safety(own_report: Report) -> None:
    assert own_report.failures == 0
    assert own_report.accuracy >= 0.90
    assert own_report.safety >= 0.97
    assert own_report.emergency_sensitivity == 1.0
    assert own_report.self_care_sent_to_care <= 0.10
    assert own_report.max_questions <= 30
    assert own_report.mean_questions <= 16


def test_vignettes__dev_set_catches_every_emergency_and_is_safe(catalog: Catalog) -> None:
    report = evaluate(lambda qr: next_question(qr, catalog=catalog), load_vignettes(VIGNETTES / "dev.jsonl"))
    assert report.failures == 0
    assert report.emergency_sensitivity == 1.0
    assert report.safety == 1.0


def test_vignettes__hold_out_set_is_safe_and_catches_every_emergency(catalog: Catalog) -> None:
    report = evaluate(
        lambda qr: next_question(qr, catalog=catalog), load_vignettes(VIGNETTES / "ingang-holdout.jsonl")
    )
    assert report.failures == 0
    assert report.accuracy >= 0.90
    assert report.safety >= 0.97
    assert report.emergency_sensitivity == 1.0


def test_vignettes__stress_set_catches_every_emergency(catalog: Catalog) -> None:
    # published-vignette style encodings, e.g. a temperature given only as a number, no "fever"
    report = evaluate(
        lambda qr: next_question(qr, catalog=catalog), load_vignettes(VIGNETTES / "ingang-stress.jsonl")
    )
    assert report.failures == 0
    assert report.emergency_sensitivity == 1.0
    assert report.safety >= 0.97
    assert report.accuracy >= 0.90
