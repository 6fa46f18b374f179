"""Measure the engine on clinical vignettes the way published symptom checkers are measured.

A scripted patient answers whatever is asked, by finding code only: a listed finding gets its
value, an unlisted yes/no finding gets "no", and an unlisted number or choice gets no answer
("don't know"). It works against any `post(questionnaire_response) -> questionnaire_response`
callable, so the same code measures the engine in-process and a deployed hub over HTTP.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from triage.assessment import read_disposition
from triage.dispositions import SCALES, level_rank, on_scale
from triage.vocabulary import FINDING_SYSTEM

Post = Callable[[dict[str, Any]], dict[str, Any]]
FAILURE_QUESTIONS: Final = 60  # the contract: a case needing more counts as a failure


@dataclass(frozen=True)
class Vignette:
    """One case: who, what complaint, which findings, and the gold level on a scale."""

    id: str
    age_years: float
    sex: str
    complaint: str
    findings: dict[str, Any]
    gold: str
    gold_scale: str

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Vignette:
        """Read a vignette line; ValueError names the field that is wrong."""
        scale = str(raw.get("gold_scale", ""))
        if scale not in ("3-level", "4-level", "6-level") or raw.get("gold") not in SCALES[scale]:
            raise ValueError(
                f"vignette {raw.get('id')!r}: gold {raw.get('gold')!r} is not on scale {scale!r}"
            )
        return cls(
            str(raw["id"]),
            float(raw["age_years"]),
            str(raw["sex"]),
            str(raw["complaint"]),
            dict(raw.get("findings", {})),
            str(raw["gold"]),
            scale,
        )


def load_vignettes(path: str | Path) -> list[Vignette]:
    """Read a JSON Lines vignette file (blank lines and lines starting with # are skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [
        Vignette.from_dict(json.loads(line)) for line in lines if line.strip() and not line.startswith("#")
    ]


def _answer_value(item: Mapping[str, Any], vignette: Vignette) -> dict[str, Any] | None:
    code = next((c.get("code") for c in item.get("code", []) if c.get("system") == FINDING_SYSTEM), None)
    kind = item.get("type")
    if code == "age-years":
        return {"valueInteger": math.floor(vignette.age_years)}
    if code == "age-months":
        return {"valueInteger": min(23, round(vignette.age_years * 12))}
    if code == "sex":
        return {"valueCoding": {"system": FINDING_SYSTEM, "code": vignette.sex}}
    if code == "chief-complaint":
        return {"valueCoding": {"system": FINDING_SYSTEM, "code": vignette.complaint}}
    if code in vignette.findings:
        value = vignette.findings[code]
        if kind == "boolean":
            return {"valueBoolean": bool(value)}
        if kind == "choice":
            return {"valueCoding": {"system": FINDING_SYSTEM, "code": str(value)}}
        if kind == "integer":
            return {"valueInteger": int(value)}
        return {"valueDecimal": float(value)}
    return {"valueBoolean": False} if kind == "boolean" else None


def answer_questions(response: Mapping[str, Any], vignette: Vignette) -> tuple[dict[str, Any], int]:
    """Answer every question not yet answered; return the new response and how many were answered."""
    answered = {item.get("linkId") for item in response.get("item", [])}
    questionnaire: Mapping[str, Any] = next(
        (c for c in response.get("contained", []) if c.get("resourceType") == "Questionnaire"), {}
    )
    items = list(response.get("item", []))
    count = 0
    for question in questionnaire.get("item", []):
        if question.get("type") == "display" or question.get("linkId") in answered:
            continue
        value = _answer_value(question, vignette)
        items.append({"linkId": question["linkId"], **({"answer": [value]} if value is not None else {})})
        count += 1
    return {**response, "item": items}, count


@dataclass(frozen=True)
class CaseResult:
    """What happened to one vignette."""

    vignette: Vignette
    disposition: str | None
    questions: int
    seconds: float
    error: str | None = None

    @property
    def level(self) -> str | None:
        """Return the disposition on the vignette's own gold scale."""
        return None if self.disposition is None else on_scale(self.disposition, self.vignette.gold_scale)


def run_case(post: Post, vignette: Vignette) -> CaseResult:
    """Drive one vignette through `post` until the response is completed (or fails)."""
    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}
    questions, seconds = 0, 0.0
    try:
        while True:
            started = time.perf_counter()
            response = post(response)
            seconds += time.perf_counter() - started
            if response.get("status") == "completed":
                return CaseResult(vignette, read_disposition(response), questions, seconds)
            response, asked = answer_questions(response, vignette)
            questions += asked
            if asked == 0 or questions > FAILURE_QUESTIONS:
                return CaseResult(vignette, None, questions, seconds, "no progress or more than 60 questions")
    except Exception as exc:  # a crashing engine is a measured failure, not a crashed evaluation
        return CaseResult(vignette, None, questions, seconds, f"{type(exc).__name__}: {exc}")


@dataclass
class Report:
    """The figures for one vignette set."""

    results: list[CaseResult]
    accuracy: float = 0.0
    accuracy_3_level: float = 0.0
    safety: float = 0.0
    emergency_sensitivity: float = 0.0
    over_triage: float = 0.0
    self_care_sent_to_care: float = 0.0
    failures: int = 0
    mean_questions: float = 0.0
    max_questions: int = 0
    mean_ms: float = 0.0
    p95_ms: float = 0.0
    confusion: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)


def _share(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def summarise(results: list[CaseResult]) -> Report:
    """Compute accuracy (on each case's scale and on 3-level), safety, sensitivity and effort."""
    report = Report(results=results)
    ok = [r for r in results if r.disposition is not None]
    report.failures = len(results) - len(ok)
    report.accuracy = _share(sum(r.level == r.vignette.gold for r in ok), len(results))
    three = [(on_scale(r.disposition, "3-level"), _to_three(r.vignette)) for r in ok if r.disposition]
    report.accuracy_3_level = _share(sum(a == b for a, b in three), len(results))
    rank = {r.vignette.id: level_rank(r.level, r.vignette.gold_scale) for r in ok if r.level}
    gold = {r.vignette.id: level_rank(r.vignette.gold, r.vignette.gold_scale) for r in results}
    report.safety = _share(sum(rank[i] <= gold[i] for i in rank), len(results))
    report.over_triage = _share(sum(rank[i] < gold[i] for i in rank), len(results))
    emergencies = [r for r in results if r.vignette.gold == "emergency"]
    report.emergency_sensitivity = _share(sum(r.level == "emergency" for r in emergencies), len(emergencies))
    self_care = [r for r in results if r.vignette.gold == "self-care"]
    report.self_care_sent_to_care = (
        _share(sum(r.level != "self-care" for r in self_care), len(self_care)) if self_care else 0.0
    )
    questions = [r.questions for r in results]
    report.mean_questions = sum(questions) / len(questions) if questions else 0.0
    report.max_questions = max(questions, default=0)
    times = sorted(r.seconds * 1000 for r in results)
    report.mean_ms = sum(times) / len(times) if times else 0.0
    report.p95_ms = times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0
    for result in ok:
        scale = result.vignette.gold_scale
        assert result.level is not None
        report.confusion.setdefault(scale, Counter())[(result.vignette.gold, result.level)] += 1
    return report


def _to_three(vignette: Vignette) -> str:
    if vignette.gold_scale == "3-level":
        return vignette.gold
    if vignette.gold_scale == "6-level":
        return on_scale(vignette.gold, "3-level")
    return {"emergency": "emergency", "urgent": "care", "non-urgent": "care", "self-care": "self-care"}[
        vignette.gold
    ]


def evaluate(post: Post, vignettes: Iterable[Vignette]) -> Report:
    """Run every vignette through `post` and summarise."""
    return summarise([run_case(post, v) for v in vignettes])


def format_report(report: Report, *, title: str = "Triage evaluation", show_misses: bool = True) -> str:
    """Render a report as readable text: figures, confusion matrices, then every miss."""
    n = len(report.results)
    lines = [
        f"{title}: {n} vignettes",
        f"  accuracy (each case's gold scale)  {report.accuracy:6.1%}",
        f"  accuracy on 3-level                {report.accuracy_3_level:6.1%}",
        f"  safety (at least as urgent)        {report.safety:6.1%}",
        f"  emergency sensitivity              {report.emergency_sensitivity:6.1%}",
        f"  over-triage share                  {report.over_triage:6.1%}",
        f"  self-care cases sent to care       {report.self_care_sent_to_care:6.1%}",
        f"  failures (error or > 60 questions) {report.failures}",
        f"  questions per case                 {report.mean_questions:.1f} mean, {report.max_questions} max",
        f"  time per case                      {report.mean_ms:.2f} ms mean, {report.p95_ms:.2f} ms p95",
    ]
    for scale, counts in sorted(report.confusion.items()):
        levels = SCALES[scale]
        lines.append(f"  confusion on {scale} (rows gold, columns engine):")
        lines.append("    " + " " * 12 + "".join(f"{lvl[:11]:>12}" for lvl in levels))
        for gold in levels:
            lines.append(
                f"    {gold[:11]:>12}" + "".join(f"{counts.get((gold, got), 0):>12}" for got in levels)
            )
    misses = [r for r in report.results if r.level != r.vignette.gold]
    if show_misses and misses:
        lines.append("  misses:")
        for r in misses:
            lines.append(
                f"    {r.vignette.id}: gold {r.vignette.gold} ({r.vignette.gold_scale}), engine "
                f"{r.disposition or r.error} after {r.questions} questions"
            )
    return "\n".join(lines)
