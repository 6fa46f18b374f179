"""Load each region's routing rules from a YAML file, refusing a bad one with file, line and reason.

Regions edit these files themselves, so a mistake must be caught before it routes a case:
at start-up a bad file stops the hub, and a bad edit to a running hub is refused while the
last good rules stay in force. Rules are replaced whole, so a case is always routed by one
consistent version; cases already routed keep their unit.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable, Iterable
from datetime import time
from pathlib import Path
from typing import Any

import yaml

from cases.routing import WEEKDAYS, CareUnit, OutOfHours, Region, RouteRule, Text

log = logging.getLogger("ingang.routing")
CARE_DISPOSITIONS = ("urgent", "within-24h", "within-week")
_LINE = "__line__"


class RegionFileError(ValueError):
    """A routing rules file that cannot be used: where and why."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class _LineLoader(yaml.SafeLoader):
    """Remember the line of every mapping, so errors can point at it."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping[_LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


class _Reader:
    """Check one file's values against the vocabulary, with the line of each problem."""

    def __init__(self, path: str, complaints: frozenset[str], competences: frozenset[str]) -> None:
        self.path, self.complaints, self.competences = path, complaints, competences

    def fail(self, node: Any, reason: str) -> RegionFileError:
        return RegionFileError(self.path, node.get(_LINE, 1) if isinstance(node, dict) else 1, reason)

    def mapping(self, node: Any, where: str, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise RegionFileError(self.path, 1, f"{where} must be a mapping")
        extra = set(node) - set(allowed) - {_LINE}
        if extra:
            raise self.fail(node, f"{where}: unknown key(s) {sorted(extra)}")
        missing = [k for k in required if k not in node]
        if missing:
            raise self.fail(node, f"{where}: missing {missing}")
        return node

    def codes(self, node: dict[str, Any], key: str, known: Iterable[str]) -> frozenset[str] | None:
        if key not in node:
            return None
        values = node[key]
        if not isinstance(values, list) or not values:
            raise self.fail(node, f"{key} must be a non-empty list")
        unknown = sorted(set(map(str, values)) - set(known))
        if unknown:
            raise self.fail(node, f"{key}: unknown code(s) {unknown}")
        return frozenset(map(str, values))

    def text(self, node: Any, where: str) -> Text:
        m = self.mapping(node, where, ("sv", "en"), ("sv", "en"))
        return Text(str(m["sv"]), str(m["en"]))

    def hours(self, node: dict[str, Any]) -> dict[str, tuple[tuple[time, time], ...]]:
        spec = self.mapping(node.get("hours", {}), "hours", WEEKDAYS)
        out: dict[str, tuple[tuple[time, time], ...]] = {}
        for day in WEEKDAYS:
            spans = []
            for span in spec.get(day, []):
                try:
                    start, end = (time.fromisoformat(p.strip()) for p in str(span).split("-"))
                except ValueError:
                    raise self.fail(spec, f"hours.{day}: '{span}' is not like 08:00-17:00") from None
                if end <= start:
                    raise self.fail(spec, f"hours.{day}: '{span}' ends before it starts")
                spans.append((start, end))
            out[day] = tuple(spans)
        return out

    def unit(self, node: Any) -> CareUnit:
        m = self.mapping(node, "unit", ("hsa_id", "name", "competences", "hours", "always_open"),
                         ("hsa_id", "name", "competences"))
        comps = self.codes(m, "competences", self.competences) or frozenset()
        always = bool(m.get("always_open", False))
        if not always and "hours" not in m:
            raise self.fail(m, f"unit {m['hsa_id']}: give hours or always_open: true")
        return CareUnit(str(m["hsa_id"]), str(m["name"]), comps, self.hours(m), always)

    def rule(self, node: Any, units: dict[str, CareUnit]) -> RouteRule:
        m = self.mapping(node, "route", ("when", "unit"), ("unit",))
        when = self.mapping(m.get("when", {}), "when", ("dispositions", "complaints", "competences", "age"))
        if str(m["unit"]) not in units:
            raise self.fail(m, f"route names unit {m['unit']}, which is not in units")
        age = self.mapping(when.get("age", {}), "age", ("min", "max"))
        return RouteRule(
            unit=str(m["unit"]),
            dispositions=self.codes(when, "dispositions", CARE_DISPOSITIONS),
            complaints=self.codes(when, "complaints", self.complaints),
            competences=self.codes(when, "competences", self.competences),
            min_age=int(age["min"]) if "min" in age else None,
            max_age=int(age["max"]) if "max" in age else None,
            line=int(m[_LINE]),
        )


def parse_region(text: str, path: str, complaints: frozenset[str], competences: frozenset[str]) -> Region:
    """Parse and check one region file; RegionFileError says where and why it is wrong."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RegionFileError(path, mark.line + 1 if mark else 1, f"not valid YAML: {exc}") from None
    r = _Reader(path, complaints, competences)
    top = r.mapping(doc, "file", ("region", "units", "routes", "out_of_hours", "advice"),
                    ("region", "units", "routes", "out_of_hours"))
    head = r.mapping(top["region"], "region", ("code", "name"), ("code", "name"))
    units = {u.hsa_id: u for u in (r.unit(n) for n in top["units"] or [])}
    if not units:
        raise r.fail(top, "a region needs at least one unit")
    rules = tuple(r.rule(n, units) for n in top["routes"] or [])
    ooh_node = r.mapping(top["out_of_hours"], "out_of_hours", ("action", "unit", "message", "urgent_only"),
                         ("action", "message"))
    if ooh_node["action"] not in ("queue", "refer-phone", "unit"):
        raise r.fail(ooh_node, "out_of_hours.action must be queue, refer-phone or unit")
    if ooh_node["action"] == "unit" and str(ooh_node.get("unit")) not in units:
        raise r.fail(ooh_node, "out_of_hours.unit must name one of the units")
    ooh = OutOfHours(str(ooh_node["action"]), r.text(ooh_node["message"], "out_of_hours.message"),
                     str(ooh_node["unit"]) if "unit" in ooh_node else None, bool(ooh_node.get("urgent_only", False)))
    advice_node = r.mapping(top.get("advice", {}), "advice", [k for k in top.get("advice", {}) if k != _LINE])
    advice = {k: r.text(v, f"advice.{k}") for k, v in advice_node.items() if k != _LINE}
    region = Region(str(head["code"]), str(head["name"]), units, rules, ooh, advice, path)
    _check_every_case_has_a_unit(region, r, top, complaints)
    return region


def _check_every_case_has_a_unit(region: Region, r: _Reader, top: dict[str, Any], complaints: frozenset[str]) -> None:
    from cases.routing import CaseToRoute

    for disposition in CARE_DISPOSITIONS:
        for complaint in sorted(complaints):
            for age in (0, 10, 40, 90):
                case = CaseToRoute(disposition, "nurse", complaint, age)
                if not any(rule.matches(case) for rule in region.rules):
                    raise r.fail(top, f"routes: no rule takes a {disposition} case of {complaint} at age {age}; "
                                      "add a catch-all route last")


class RegionCatalog:
    """The regions in force, reloaded when a file changes; a bad change keeps the last good rules."""

    def __init__(self, folder: Path, complaints: frozenset[str], competences: frozenset[str], *,
                 check_every: float = 2.0, now: Callable[[], float] = clock.monotonic) -> None:
        self.folder, self.complaints, self.competences = folder, complaints, competences
        self.check_every, self._now = check_every, now
        self._lock = threading.Lock()
        self._stamp = self._fingerprint()
        self._regions = self._load()  # raises at start-up: a hub must not run on bad rules
        self._checked = now()

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.yaml"))

    def _fingerprint(self) -> tuple[tuple[str, float], ...]:
        return tuple((p.name, p.stat().st_mtime) for p in self._files())

    def _load(self) -> dict[str, Region]:
        regions: dict[str, Region] = {}
        for path in self._files():
            region = parse_region(path.read_text(encoding="utf-8"), str(path), self.complaints, self.competences)
            if region.code in regions:
                raise RegionFileError(str(path), 1, f"region code {region.code} is also in {regions[region.code].source}")
            regions[region.code] = region
        if not regions:
            raise RegionFileError(str(self.folder), 0, "no region files (*.yaml) found")
        return regions

    def regions(self) -> dict[str, Region]:
        """Return the regions now in force, reloading them first if a file changed."""
        if self._now() - self._checked >= self.check_every:
            with self._lock:
                self._checked = self._now()
                stamp = self._fingerprint()
                if stamp != self._stamp:
                    try:
                        self._regions = self._load()
                    except RegionFileError as exc:
                        log.error("routing rules not reloaded, the last good ones stay in force: %s", exc)
                    self._stamp = stamp
        return self._regions

    def region(self, code: str | None) -> Region:
        """Return a region by code, or the first region when the code is unknown or None."""
        regions = self.regions()
        if code and code in regions:
            return regions[code]
        return regions[sorted(regions)[0]]
