"""Measure XML conversion speed over the official R4 examples: µs per resource, both ways.

Not a test (timings on a shared machine make poor assertions); run it by hand after changing
the converters: `python tests/unit/formats/bench_xml.py`. CPU time, best of three passes.
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fhir_api.formats import json_to_xml, xml_to_json

PACKAGE = Path(__file__).resolve().parents[2] / "fixtures" / "r4-examples" / "package"


def cpu_times(function: Callable[[Any], Any], items: list[Any], passes: int = 3) -> list[float]:
    """Return each item's best CPU time over a few passes, in microseconds."""
    best = [float("inf")] * len(items)
    for _ in range(passes):
        for index, item in enumerate(items):
            started = time.process_time_ns()
            function(item)
            best[index] = min(best[index], (time.process_time_ns() - started) / 1000)
    return best


def main() -> int:
    """Print mean, median and small-resource mean for both directions."""
    verdicts_path = PACKAGE / ".r4b-verdicts.json"
    if not verdicts_path.exists():
        print("run tests/fixtures/r4-examples/fetch.sh first", file=sys.stderr)
        return 1
    names = json.loads(verdicts_path.read_text(encoding="utf-8"))["accepted"]
    sizes = [(PACKAGE / name).stat().st_size for name in names]
    resources = [json.loads((PACKAGE / name).read_bytes()) for name in names]
    documents = [json_to_xml(resource) for resource in resources]
    gc.disable()
    writes = cpu_times(json_to_xml, resources)
    reads = cpu_times(xml_to_json, documents)
    small = [index for index, size in enumerate(sizes) if size < 100_000]
    print(f"{len(names)} examples, {sum(sizes) / 1e6:.0f} MB of JSON")
    for label, times in (("json_to_xml", writes), ("xml_to_json", reads)):
        print(f"{label}: mean {statistics.fmean(times):.0f} µs, median {statistics.median(times):.0f} µs,"
              f" mean under 100 kB ({len(small)}) {statistics.fmean(times[i] for i in small):.0f} µs,"
              f" {sum(sizes) / sum(times):.1f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
