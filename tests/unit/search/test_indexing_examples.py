"""Every official R4 example indexes without an error, into rows that fit their columns.

The examples come from tests/fixtures/r4-examples (fetch.sh); without them this is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_api.indexing import index_rows
from fhir_api.search.values import URI_MAX
from fhir_api.searchparams import SearchParamRegistry

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "r4-examples" / "package"
LIMITS = {"string": {"value_norm": 255}, "token": {"system": 255, "code": 255, "text_norm": 255},
          "reference": {"target_type": 64, "target_id": 64}, "uri": {"value": URI_MAX},
          "quantity": {"system": 255, "code": 255, "unit": 255}}


def _examples() -> list[dict[str, Any]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.json")):
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("resourceType"), str):
            out.append(doc)
    return out


def _problems(kind: str, row: dict[str, Any]) -> list[str]:
    found = [f"{col} longer than {size}" for col, size in LIMITS.get(kind, {}).items()
             if isinstance(row.get(col), str) and len(row[col]) > size]
    if kind == "date" and not (row["low"] <= row["high"] and row["span"] in (0, 1, 2, 3)):
        found.append("bad interval")
    if not isinstance(row.get("param"), str) or "rid" in row or "res_type" in row:
        found.append("row keys")
    return found


@pytest.mark.slow
@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="R4 examples not fetched (tests/fixtures/r4-examples/fetch.sh)")
def test_official_examples__index_into_rows_that_fit_the_columns() -> None:
    registry = SearchParamRegistry.load()
    examples = _examples()
    assert len(examples) > 5000
    problems = []
    total = 0
    for resource in examples:
        for kind, rows in index_rows(resource, registry).items():
            total += len(rows)
            problems += [(resource["resourceType"], resource.get("id"), kind, p)
                         for row in rows for p in _problems(kind, row)]
    assert problems == []
    assert total > 100_000
