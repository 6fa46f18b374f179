"""Round-trip the official FHIR R4 examples through XML: what goes in must come back out.

The examples are fetched by `tests/fixtures/r4-examples/fetch.sh` (CI runs it); without them
these tests skip. In scope is every example that fhir.resources' R4B models accept, the same
models the hub validates with. Decimals are read as Decimal on both sides, so "1.50" must
come back as "1.50"; narratives compare as canonical XML, since XML cannot keep whether a
quote was written `"` or `&quot;` (nor a line break in an attribute as typed or as `&#10;`).
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from lxml import etree

from fhir_api.formats import FormatError, json_to_xml, xml_to_json
from fhir_api.formats.xhtml import keep_attribute_whitespace

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "r4-examples"
PACKAGE = FIXTURE / "package"
FHIR = "{http://hl7.org/fhir}"
FOREIGN = etree.XPath("//*[namespace-uri() != 'http://hl7.org/fhir' and "
                      "namespace-uri() != 'http://www.w3.org/1999/xhtml']")

pytestmark = pytest.mark.slow


def _verdicts_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("r4b_verdicts", FIXTURE / "r4b_verdicts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canonical(value: Any, key: str = "") -> Any:
    """Return a comparable form: narratives as canonical XML, numbers by value and spelling."""
    if isinstance(value, dict):
        return {k: canonical(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if key == "div" and isinstance(value, str):
        # Read as the hub reads a JSON narrative: a line break typed into an attribute stays one.
        parsed = etree.fromstring(keep_attribute_whitespace(value).encode())
        return ("xhtml", etree.tostring(parsed, method="c14n"))
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return ("number", Decimal(repr(value)), repr(value))
    if isinstance(value, (int, Decimal)):
        return ("number", Decimal(value), str(value))
    return value


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Describe where two canonical forms first differ, or None if they do not."""
    if type(expected) is not type(actual):
        return f"{path or '/'}: {expected!r:.120} became {actual!r:.120}"
    if isinstance(expected, dict):
        for key in expected.keys() | actual.keys():
            if key not in actual or key not in expected:
                return f"{path}.{key}: {'lost' if key not in actual else 'appeared'}"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items became {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if expected == actual else f"{path}: {expected!r:.120} became {actual!r:.120}"


@dataclass
class Outcome:
    """What one pass over the accepted examples found."""

    accepted: list[str]
    refused: dict[str, str]
    errors: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    with_decimals: list[str] = field(default_factory=list)
    aggregates: list[str] = field(default_factory=list)
    verbatim: int = 0


def round_trip(name: str) -> tuple[str, str | None, str | None, bool, bool]:
    """Convert one example there and back: (kind of finding, finding, verbatim, has decimals)."""
    decimals: list[Decimal] = []

    def parse_float(text: str) -> Decimal:
        decimals.append(Decimal(text))
        return decimals[-1]

    raw = (PACKAGE / name).read_bytes()
    original = json.loads(raw, parse_float=parse_float)
    try:
        xml = json_to_xml(original)
        back = xml_to_json(xml, parse_decimal=Decimal)
    except FormatError as exc:
        return name, "error", str(exc), False, bool(decimals)
    if back != original:
        problem = first_difference(canonical(original), canonical(back))
        if problem:
            return name, "changed", problem, False, bool(decimals)
    if len(raw) < 1_000_000:
        # xml_to_json's own strict parse already vouches for the big ones.
        root = etree.fromstring(xml)
        if root.tag != FHIR + original["resourceType"] or FOREIGN(root):
            return name, "malformed", f"root {root.tag}, {FOREIGN(root)[:1]}", False, bool(decimals)
    return name, None, None, back == original, bool(decimals)


def _map(function: Callable[[str], Any], names: list[str]) -> list[Any]:
    """Map over the examples on every core when it is safe to fork, else in this process."""
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or threading.active_count() > 1 or "fork" not in mp.get_all_start_methods():
        return [function(name) for name in names]
    # Largest first, so one huge Bundle does not start last and leave the others idle.
    ordered = sorted(names, key=lambda name: (PACKAGE / name).stat().st_size, reverse=True)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
        return list(pool.map(function, ordered, chunksize=4))


def repeats_other_examples(name: str, accepted: set[str]) -> bool:
    """Tell whether a Bundle only gathers resources that are accepted examples of their own.

    The package ships its definitions twice: one file per resource and big Bundles of them
    (70 MB of the 190), the same but for whitespace in the narratives. Each resource is
    round-tripped on its own, narrative included; the Bundle would add nothing but time.
    """
    bundle = orjson.loads((PACKAGE / name).read_bytes())
    for entry in bundle.get("entry", []):
        resource = dict(entry.get("resource", {}))
        own = f"{resource.get('resourceType')}-{resource.get('id')}.json"
        if own not in accepted:
            return False
        alone = orjson.loads((PACKAGE / own).read_bytes())
        if {**alone, "text": None} != {**resource, "text": None}:
            return False
    return bool(bundle.get("entry"))


@pytest.fixture(scope="module")
def official() -> Outcome:
    """Convert every accepted example there and back once; the tests read the findings."""
    if not (PACKAGE / "package.json").exists():
        pytest.skip(f"official R4 examples not fetched: run {FIXTURE / 'fetch.sh'}")
    verdicts = _verdicts_module().load(PACKAGE)
    outcome = Outcome(verdicts["accepted"], verdicts["refused"])
    accepted = set(outcome.accepted)
    outcome.aggregates = [name for name in outcome.accepted if name.startswith("Bundle-")
                          and (PACKAGE / name).stat().st_size > 1_000_000
                          and repeats_other_examples(name, accepted)]
    findings = {"error": outcome.errors, "changed": outcome.changed,
                "malformed": outcome.malformed}
    in_scope = [name for name in outcome.accepted if name not in outcome.aggregates]
    for name, kind, finding, verbatim, has_decimals in _map(round_trip, in_scope):
        if kind is not None:
            findings[kind].append(f"{name}: {finding}")
        outcome.verbatim += verbatim
        if has_decimals:
            outcome.with_decimals.append(name)
    return outcome


def test_xml_round_trip__every_official_example_is_unchanged(official: Outcome) -> None:
    assert len(official.accepted) > 5000, "the verdicts should accept nearly all examples"
    assert official.errors == []
    assert official.changed == []


def test_official_examples__only_bundles_of_other_examples_are_left_to_those_examples(
        official: Outcome) -> None:
    # The definition Bundles that repeat single-resource examples verbatim; the 20 MB
    # data-element Bundle, which repeats nothing, is still converted.
    assert "Bundle-resources.json" in official.aggregates
    assert "Bundle-dataelements.json" not in official.aggregates
    assert len(official.aggregates) < 10


def test_xml_round_trip__narratives_are_the_only_thing_that_changes_spelling(
        official: Outcome) -> None:
    # Everything but `&quot;`-style spellings inside narratives comes back byte for byte.
    assert official.verbatim > 0.85 * (len(official.accepted) - len(official.aggregates))


def test_json_to_xml__every_official_example_is_well_formed_fhir_xml(official: Outcome) -> None:
    assert official.malformed == []


def test_official_examples__only_a_few_are_out_of_r4b_scope(official: Outcome) -> None:
    # R4-only resources (MedicinalProduct*, EffectEvidenceSynthesis ...) and fhir.resources
    # quirks (no `_valueString` inside Extension) are the whole of the excluded set.
    assert len(official.refused) < 100, sorted(official.refused)


def refused_round_trip(name: str) -> str | None:
    """Round-trip an example R4B refuses: None if it survives or is refused for R4-only parts."""
    original = json.loads((PACKAGE / name).read_bytes(), parse_float=Decimal)
    try:
        back = xml_to_json(json_to_xml(original), parse_decimal=Decimal)
    except FormatError as exc:
        r4_only = "not a known FHIR resource type" in exc.message or "unknown element" in exc.message
        return None if r4_only else f"{name}: {exc}"
    problem = first_difference(canonical(original), canonical(back))
    return f"{name}: {problem}" if problem else None


def test_xml_round_trip__examples_outside_r4b_either_survive_or_are_refused_cleanly(
        official: Outcome) -> None:
    # Only what R4B lacks (R4-only resource types and elements) may be refused. The one
    # big Bundle among them (6 MB of v2 value sets) repeats the CodeSystems tried here.
    names = [name for name in official.refused if (PACKAGE / name).stat().st_size < 1_000_000]
    assert len(names) > 50
    failures = [found for found in _map(refused_round_trip, names) if found]
    assert failures == []


def float_round_trip(name: str) -> str | None:
    """Round-trip an example the way the hub reads JSON: orjson, so decimals are floats."""
    original = orjson.loads((PACKAGE / name).read_bytes())
    back = xml_to_json(json_to_xml(original))
    if back == original:
        return None
    problem = first_difference(canonical(original), canonical(back))
    return f"{name}: {problem}" if problem else None


def test_xml_round_trip__decimals_read_by_orjson_come_back_identical(official: Outcome) -> None:
    # The hub's own path: orjson makes floats, XML carries repr(), float() reads it back.
    assert len(official.with_decimals) > 50
    changed = [found for found in _map(float_round_trip, official.with_decimals) if found]
    assert changed == []
