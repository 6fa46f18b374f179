"""Benchmark the triage engine: server time per question and per full case over a vignette set.

Run `python bench/triage_bench.py [FILE.jsonl] [--base URL] [--repeat N]`. In-process it times
`next_question` alone (what a replica spends per request); with --base it times the HTTP round
trip, which adds the FHIR layer and the network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from triage.catalog import load_catalog
from triage.eval_client import http_post, in_process_post
from triage.evaluation import answer_questions, load_vignettes

DEFAULT_SET = Path(__file__).resolve().parents[1] / "triage" / "vignettes" / "ingang-vignettes.jsonl"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    """Time every call and every case; print mean, median, p95 and max."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DEFAULT_SET))
    parser.add_argument("--base", help="base URL of a running hub")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_catalog()
    load_ms = (time.perf_counter() - started) * 1000
    post = http_post(args.base) if args.base else in_process_post()
    vignettes = load_vignettes(args.file)
    per_call: list[float] = []
    per_case: list[float] = []
    questions: list[int] = []
    for _ in range(args.repeat):
        for vignette in vignettes:
            response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}
            case_ms, asked = 0.0, 0
            while True:
                t0 = time.perf_counter()
                response = post(response)
                elapsed = (time.perf_counter() - t0) * 1000
                per_call.append(elapsed)
                case_ms += elapsed
                if response.get("status") == "completed":
                    break
                response, count = answer_questions(response, vignette)
                asked += count
            per_case.append(case_ms)
            questions.append(asked)
    per_question = sum(per_case) / max(1, sum(questions))
    print(f"triage bench: {len(vignettes)} vignettes x {args.repeat} ({args.base or 'in-process'})")
    print(f"  catalog load (validated)   {load_ms:8.1f} ms")
    print(
        f"  per call                   mean {statistics.mean(per_call):.3f} ms, median {statistics.median(per_call):.3f}, "
        f"p95 {_percentile(per_call, 0.95):.3f}, max {max(per_call):.3f}"
    )
    print(f"  per question               {per_question:.3f} ms")
    print(
        f"  per case                   mean {statistics.mean(per_case):.2f} ms, p95 {_percentile(per_case, 0.95):.2f}, "
        f"max {max(per_case):.2f}"
    )
    print(f"  questions per case         mean {statistics.mean(questions):.1f}, max {max(questions)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
