"""The scripted patient answers the way the measurement does, and the metrics count correctly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from triage.catalog import Catalog
from triage.engine import next_question
from triage.eval_client import RemoteError, http_post, run_eval_cli
from triage.evaluation import CaseResult, Vignette, answer_questions, evaluate, summarise
from triage.vocabulary import FINDING_SYSTEM

VIGNETTES = Path(__file__).resolve().parents[3] / "triage" / "vignettes"

CASE = Vignette(
    "t-1",
    1.5,
    "female",
    "complaint-fever",
    {"fever": True, "highest-temperature": 38.5, "symptom-onset": "sudden"},
    "care",
    "3-level",
)


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "item": [],
        "contained": [{"resourceType": "Questionnaire", "item": list(items)}],
    }


def question(code: str, kind: str) -> dict[str, Any]:
    return {"linkId": code, "type": kind, "code": [{"system": FINDING_SYSTEM, "code": code}]}


def test_evaluation__scripted_patient_answers_by_code_like_the_measurement() -> None:
    response, count = answer_questions(
        questionnaire(
            question("age-years", "integer"),
            question("age-months", "integer"),
            question("sex", "choice"),
            question("fever", "boolean"),
            question("cough", "boolean"),
            question("highest-temperature", "decimal"),
            question("symptom-onset", "choice"),
            question("fever-duration-days", "integer"),
        ),
        CASE,
    )
    answers = {i["linkId"]: i.get("answer", [None])[0] for i in response["item"]}
    assert count == 8
    assert answers["age-years"] == {"valueInteger": 1} and answers["age-months"] == {"valueInteger": 18}
    assert answers["fever"] == {"valueBoolean": True}
    assert answers["cough"] == {"valueBoolean": False}  # unlisted yes/no: no
    assert answers["highest-temperature"] == {"valueDecimal": 38.5}
    assert answers["symptom-onset"]["valueCoding"]["code"] == "sudden"
    assert answers["fever-duration-days"] is None  # unlisted number: don't know


def test_evaluation__metrics_count_safety_sensitivity_and_over_triage() -> None:
    def case(gold: str, got: str | None) -> CaseResult:
        return CaseResult(
            Vignette(gold + str(got), 30, "male", "complaint-other", {}, gold, "4-level"), got, 10, 0.001
        )

    report = summarise(
        [
            case("emergency", "emergency-112"),
            case("emergency", "urgent"),
            case("self-care", "within-week"),
            case("self-care", "self-care"),
            case("non-urgent", "within-week"),
            case("urgent", None),
        ]
    )
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.emergency_sensitivity == pytest.approx(1 / 2)
    assert report.safety == pytest.approx(4 / 6)  # the failed case counts as unsafe
    assert report.over_triage == pytest.approx(1 / 6)
    assert report.self_care_sent_to_care == pytest.approx(1 / 2)
    assert report.failures == 1


def test_evaluation__a_crashing_engine_is_a_failed_case_not_a_crash() -> None:
    def broken(_: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("boom")

    report = evaluate(broken, [CASE])
    assert report.failures == 1 and "boom" in (report.results[0].error or "")


def test_evaluation__http_driver_posts_to_next_question(catalog: Catalog) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=next_question(json.loads(request.content), catalog=catalog))

    post = http_post("http://hub.test/fhir/", client=httpx.Client(transport=httpx.MockTransport(handler)))
    report = evaluate(post, [CASE])
    in_process = evaluate(lambda qr: next_question(qr, catalog=catalog), [CASE])
    assert report.failures == 0
    assert report.results[0].disposition == in_process.results[0].disposition
    assert report.results[0].questions == in_process.results[0].questions
    assert set(seen) == {"/fhir/Questionnaire/$next-question"}


def test_evaluation__http_driver_reports_server_errors() -> None:
    client = httpx.Client(
        transport=httpx.MockTransport(
            lambda r: httpx.Response(400, json={"resourceType": "OperationOutcome"})
        )
    )
    with pytest.raises(RemoteError, match="400"):
        http_post("http://hub.test", client=client)({"resourceType": "QuestionnaireResponse"})


def test_evaluation__cli_runs_in_process_and_prints_a_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_eval_cli([str(VIGNETTES / "dev.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "emergency sensitivity" in out and "6 vignettes" in out


def test_evaluation__cli_refuses_an_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "gold": "soon", "gold_scale": "3-level"}\n')
    assert run_eval_cli([str(bad)]) == 2
