"""Drive `$next-question` over HTTP, and the `ingang triage eval` command line.

This is the one triage module that may import httpx: it is the scripted patient's side of the
wire, so the same evaluation can run against a deployed hub (`--base URL`) or, without a base
URL, against the engine in-process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import httpx

from triage.catalog import load_catalog
from triage.engine import next_question
from triage.evaluation import Post, evaluate, format_report, load_vignettes

FHIR_JSON = "application/fhir+json"


class RemoteError(RuntimeError):
    """The server answered `$next-question` with something other than 200."""


def http_post(base_url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> Post:
    """Return a `post(qr) -> qr` that calls `{base_url}/Questionnaire/$next-question`."""
    session = client or httpx.Client(timeout=timeout, headers={"Accept": FHIR_JSON})
    url = f"{base_url.rstrip('/')}/Questionnaire/$next-question"

    def post(response: dict[str, Any]) -> dict[str, Any]:
        reply = session.post(url, json=response, headers={"Content-Type": FHIR_JSON})
        if reply.status_code != 200:
            raise RemoteError(f"{reply.status_code} from {url}: {reply.text[:300]}")
        body = reply.json()
        if not isinstance(body, dict):
            raise RemoteError(f"{url} did not return a JSON object")
        return body

    return post


def in_process_post() -> Post:
    """Return a `post` that runs the engine in this process with the shipped catalog."""
    catalog = load_catalog()
    return lambda response: next_question(response, catalog=catalog)


def run_eval_cli(argv: Sequence[str] | None = None) -> int:
    """Run `ingang triage eval FILE.jsonl [--base URL]`; print the report; 0 on success, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="ingang triage eval", description="Measure triage on clinical vignettes."
    )
    parser.add_argument("files", nargs="+", help="vignette files (JSON Lines, the shared/triage format)")
    parser.add_argument("--base", help="base URL of a running hub; without it the engine runs in-process")
    parser.add_argument("--quiet", action="store_true", help="do not list the missed cases")
    args = parser.parse_args(list(argv) if argv is not None else None)
    post = http_post(args.base) if args.base else in_process_post()
    where = args.base or "in-process engine"
    for path in args.files:
        try:
            vignettes = load_vignettes(path)
        except (OSError, ValueError, KeyError) as exc:
            print(f"cannot read {path}: {exc}", file=sys.stderr)
            return 2
        report = evaluate(post, vignettes)
        print(format_report(report, title=f"{path} ({where})", show_misses=not args.quiet))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_eval_cli())
