"""Load the official R4 examples and decide, apart from the server, which ones it must accept.

The verdict on each example comes from fhir.resources' R4B models (as recorded beside the
package by fetch.sh, see r4b_verdicts.py), corrected where R4 and R4B differ: R4 allows
`_valueX` in extensions, and limits ids to 64 characters. The server must accept
exactly the valid examples of the types its CapabilityStatement lists, within its body size
limit, and refuse every other one with a 4xx OperationOutcome. A few valid examples break a
rule of the hub's own (an Appointment holding a Slot that was never booked through `$book`,
a Subscription the hub cannot deliver); the hub's own rule code judges those, and they too
must be refused with a 4xx OperationOutcome.
https://hl7.org/fhir/R4/downloads.html (the examples package: hl7.fhir.r4.examples 4.0.1)
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "r4-examples"
DEFAULT_DIR = FIXTURE_DIR / "package"
VERDICTS_SCRIPT = FIXTURE_DIR / "r4b_verdicts.py"
EXAMPLES_DIR = Path(os.environ.get("INGANG_R4_EXAMPLES_DIR", DEFAULT_DIR))
R4_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
IGNORED_META = ("versionId", "lastUpdated")

VALID = "valid"
INVALID = "invalid per fhir.resources R4B"
BAD_ID = "id breaks the R4 id rule"
UNKNOWN_TYPE = "type not in R4B"
UNSUPPORTED = "type not in the CapabilityStatement"
TOO_LARGE = "larger than the body limit"
HUB_RULE = "breaks a rule of the hub's"


@dataclass(frozen=True)
class Example:
    """One example file: its bytes and the type and id it declares."""

    name: str
    raw: bytes
    res_type: str
    res_id: str | None

    @property
    def key(self) -> tuple[str, str | None]:
        """Return (type, id), which two files may share."""
        return self.res_type, self.res_id

    def parse(self) -> dict[str, Any]:
        """Return the example as a dict."""
        parsed: dict[str, Any] = orjson.loads(self.raw)
        return parsed


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Read every resource in the package; skip package.json, .index.json and the like."""
    examples = []
    for path in sorted(directory.glob("*.json")):
        raw = path.read_bytes()
        body = orjson.loads(raw)
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            continue
        res_id = body.get("id")
        examples.append(Example(path.name, raw, body["resourceType"], res_id if isinstance(res_id, str) else None))
    return examples


def _recorded_verdicts(directory: Path) -> dict[str, Any]:
    """Return fhir.resources' verdicts as fetch.sh recorded them (computing them if it did not)."""
    spec = importlib.util.spec_from_file_location("r4b_verdicts", VERDICTS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    verdicts: dict[str, Any] = module.load(directory)
    return verdicts


def _only_lacks_extension_value_companions(example: Example) -> bool:
    """Tell whether R4B refuses the example only for `_valueX` in its extensions, which R4 allows.

    R4 JSON gives a primitive's id and extensions in a `_name` companion, for the choice
    `Extension.value[x]` too (https://hl7.org/fhir/R4/json.html#primitive); the R4B models
    lack those fields, so such examples are valid R4 that R4B alone would refuse.
    """
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    def companion(error: Any) -> bool:
        loc = error.get("loc") or ()
        return error.get("type") == "extra_forbidden" and bool(loc) and str(loc[-1]).startswith("_value")

    def without_companions(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_companions(v) for k, v in node.items()
                    if not (k.startswith("_value") and "url" in node)}
        return [without_companions(v) for v in node] if isinstance(node, list) else node

    model = get_fhir_model_class(example.res_type)
    try:
        model.model_validate(example.parse())
    except ValidationError as exc:
        if not all(companion(e) for e in exc.errors()):
            return False
    try:
        model.model_validate(without_companions(example.parse()))
    except ValidationError:
        return False
    return True


class Verdicts:
    """The outcome each example must have, decided apart from the server."""

    def __init__(self, examples: list[Example], directory: Path, max_body_bytes: int) -> None:
        recorded = _recorded_verdicts(directory)
        accepted = set(recorded["accepted"])
        self._by_name: dict[str, tuple[str, str]] = {}
        for e in examples:
            refusal = recorded["refused"].get(e.name, "")
            if len(e.raw) > max_body_bytes:
                verdict = (TOO_LARGE, f"{len(e.raw):,} bytes")
            elif "is not a valid FHIR Model" in refusal:
                verdict = (UNKNOWN_TYPE, refusal[:200])
            elif e.name not in accepted and not ("._value" in refusal and _only_lacks_extension_value_companions(e)):
                verdict = (INVALID, refusal[:200])
            elif e.res_id is not None and not R4_ID.fullmatch(e.res_id):
                # fhir.resources checks the id's characters but not its length (R4: at most 64).
                verdict = (BAD_ID, f"id '{e.res_id}' is not 1-64 of A-Z a-z 0-9 - .")
            else:
                broken = hub_rule_broken(e.parse())
                verdict = (HUB_RULE, broken) if broken else (VALID, "")
            self._by_name[e.name] = verdict

    def of(self, example: Example, supported_types: frozenset[str]) -> str:
        """Return the verdict: VALID if the server must accept the example, else the reason."""
        verdict = self._by_name[example.name][0]
        if verdict == VALID and example.res_type not in supported_types:
            return UNSUPPORTED
        return verdict

    def why(self, example: Example) -> str:
        """Return what the validator said against an example, if anything."""
        return self._by_name[example.name][1]


def hub_rule_broken(resource: dict[str, Any]) -> str:
    """Return which of the hub's own rules a valid resource breaks, judged by the hub's code, or ''."""
    from fhir_api.outcomes import FhirError
    from hub.booking_wiring import ACTIVE
    from hub.subscriptions.spec import parse_subscription

    kind = resource.get("resourceType")
    if kind == "Appointment" and resource.get("status") in ACTIVE and resource.get("slot"):
        return "an active Appointment may hold a Slot only when booked through Slot/$book"
    if kind == "Subscription":
        try:
            parse_subscription(resource)
        except FhirError as exc:
            return str(exc)
    return ""


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _same_xhtml(expected: str, actual: str) -> bool:
    """Tell whether two narrative divs are the same XHTML (canonical XML), however escaped."""
    try:
        return bool(etree.tostring(etree.fromstring(expected.encode()), method="c14n")
                    == etree.tostring(etree.fromstring(actual.encode()), method="c14n"))
    except etree.XMLSyntaxError:
        return False


def difference(expected: Any, actual: Any, path: str = "", *, xhtml_as_xml: bool = False) -> str | None:
    """Return where two JSON values first differ (numbers compared by value), or None.

    With `xhtml_as_xml`, narrative divs are compared as XML: a trip through XML cannot keep
    how the text escaped a quote, wrote an empty element or ended its lines (CR LF).
    """
    if xhtml_as_xml and path.endswith("/div") and isinstance(expected, str) and isinstance(actual, str):
        return None if expected == actual or _same_xhtml(expected, actual) else f"{path}: the XHTML differs"
    if _number(expected) and _number(actual):
        same = Decimal(str(expected)) == Decimal(str(actual))
        return None if same else f"{path or '/'}: {expected!r} != {actual!r}"
    if type(expected) is not type(actual):
        return f"{path or '/'}: {type(expected).__name__} {expected!r:.80} != {type(actual).__name__} {actual!r:.80}"
    if isinstance(expected, dict):
        for key in sorted(expected.keys() | actual.keys()):
            if key not in actual or key not in expected:
                side = "missing" if key not in actual else "unexpected"
                return f"{path}/{key}: {side}"
            found = difference(expected[key], actual[key], f"{path}/{key}", xhtml_as_xml=xhtml_as_xml)
            if found:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return f"{path}: {len(expected)} items != {len(actual)} items"
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            found = difference(a, b, f"{path}/{i}", xhtml_as_xml=xhtml_as_xml)
            if found:
                return found
        return None
    return None if expected == actual else f"{path or '/'}: {expected!r:.80} != {actual!r:.80}"


def without_version_meta(resource: dict[str, Any], *, drop_id: bool = False) -> dict[str, Any]:
    """Return the resource without meta.versionId and meta.lastUpdated (and id, if asked)."""
    out = dict(resource)
    if drop_id:
        out.pop("id", None)
    meta = {k: v for k, v in (out.get("meta") or {}).items() if k not in IGNORED_META}
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


def content_change(sent: dict[str, Any], read: dict[str, Any], *, via_xml: bool = False) -> str | None:
    """Say how a resource read back differs from what was sent, ignoring version meta."""
    expected, actual = without_version_meta(sent), without_version_meta(read, drop_id="id" not in sent)
    if orjson.dumps(expected, option=orjson.OPT_SORT_KEYS) == orjson.dumps(actual, option=orjson.OPT_SORT_KEYS):
        return None  # the common case, quickly; `difference` also allows 1.0 for 1
    return difference(expected, actual, xhtml_as_xml=via_xml)


def in_rounds(examples: list[Example]) -> Iterator[list[Example]]:
    """Split examples so no round holds two with the same type and id (ig-r4 is one such pair)."""
    pending = list(examples)
    while pending:
        seen: set[tuple[str, str | None]] = set()
        this_round, later = [], []
        for e in pending:
            if e.res_id is not None and e.key in seen:
                later.append(e)
            else:
                seen.add(e.key)
                this_round.append(e)
        yield this_round
        pending = later
