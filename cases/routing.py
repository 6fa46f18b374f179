"""Pick the care unit and competence for an assessed case, by the region's own rules.

A region decides where its cases go: which unit takes which dispositions, complaints and
age groups, when each unit is open, and what happens out of hours. The rules are data (one
file per region, see `cases.region_files`); this module only evaluates them, so it is pure
and the same decision can be replayed in a test or an audit.
https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EMERGENCIES = frozenset({"emergency-112", "emergency-department"})

# How long a case may wait before someone must answer it, by disposition (1177 direkt priorities).
ANSWER_WITHIN = {
    "urgent": timedelta(hours=4),
    "within-24h": timedelta(hours=24),
    "within-week": timedelta(days=7),
    "self-care": timedelta(days=7),
}


@dataclass(frozen=True)
class Text:
    """A message in Swedish, and English for those who chose it."""

    sv: str
    en: str


@dataclass(frozen=True)
class CareUnit:
    """A unit that takes cases: its HSA-id, competences and opening hours (local time)."""

    hsa_id: str
    name: str
    competences: frozenset[str]
    hours: dict[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    always_open: bool = False

    def is_open(self, at: datetime) -> bool:
        """Tell whether the unit is open at `at` (any timezone; compared in Swedish time)."""
        if self.always_open:
            return True
        local = at.astimezone(STOCKHOLM)
        for start, end in self.hours.get(WEEKDAYS[local.weekday()], ()):
            if start <= local.time() < end:
                return True
        return False


@dataclass(frozen=True)
class RouteRule:
    """Send cases that match every given condition to a unit (and competence)."""

    unit: str
    dispositions: frozenset[str] | None = None
    complaints: frozenset[str] | None = None
    competences: frozenset[str] | None = None
    min_age: int | None = None
    max_age: int | None = None
    line: int = 0

    def matches(self, case: CaseToRoute) -> bool:
        """Tell whether this rule applies to the case."""
        return (
            (self.dispositions is None or case.disposition in self.dispositions)
            and (self.complaints is None or case.complaint in self.complaints)
            and (self.competences is None or case.competence in self.competences)
            and (self.min_age is None or case.age_years >= self.min_age)
            and (self.max_age is None or case.age_years <= self.max_age)
        )


@dataclass(frozen=True)
class OutOfHours:
    """What a region does with a case when the chosen unit is closed."""

    action: str  # "queue" (wait for opening), "refer-phone" (1177 on 1177), "unit" (an open jour unit)
    message: Text
    unit: str | None = None
    urgent_only: bool = False


@dataclass(frozen=True)
class Region:
    """One region's units, routing rules, out-of-hours handling and local advice."""

    code: str
    name: str
    units: dict[str, CareUnit]
    rules: tuple[RouteRule, ...]
    out_of_hours: OutOfHours
    advice: dict[str, Text] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class CaseToRoute:
    """What routing needs to know of an assessed case."""

    disposition: str
    competence: str
    complaint: str
    age_years: int


@dataclass(frozen=True)
class Routing:
    """Where a case goes and why, or that it goes nowhere in the hub (emergency, self-care)."""

    kind: str  # waiting-room, emergency, self-care, referred-out-of-hours
    unit: str | None
    competence: str | None
    answer_by: datetime | None
    message: Text | None = None
    rule_line: int | None = None
    queued_until_open: bool = False


def route(region: Region, case: CaseToRoute, at: datetime) -> Routing:
    """Decide where one case goes at time `at`; the first matching rule wins."""
    if case.disposition in EMERGENCIES:
        return Routing("emergency", None, None, None)
    if case.disposition == "self-care":
        return Routing("self-care", None, None, None)
    rule = next((r for r in region.rules if r.matches(case)), None)
    if rule is None:
        raise LookupError(f"region {region.code} has no rule for {case.disposition}/{case.complaint}")
    unit = region.units[rule.unit]
    competence = case.competence if case.competence in unit.competences else sorted(unit.competences)[0]
    answer_by = at + ANSWER_WITHIN.get(case.disposition, timedelta(hours=24))
    if unit.is_open(at):
        return Routing("waiting-room", unit.hsa_id, competence, answer_by, rule_line=rule.line)
    ooh = region.out_of_hours
    if ooh.urgent_only and case.disposition != "urgent":
        return Routing("waiting-room", unit.hsa_id, competence, answer_by, ooh.message, rule.line, True)
    if ooh.action == "unit" and ooh.unit is not None:
        jour = region.units[ooh.unit]
        comp = competence if competence in jour.competences else sorted(jour.competences)[0]
        return Routing("waiting-room", jour.hsa_id, comp, answer_by, ooh.message, rule.line)
    if ooh.action == "refer-phone":
        return Routing("referred-out-of-hours", None, None, None, ooh.message, rule.line)
    return Routing("waiting-room", unit.hsa_id, competence, answer_by, ooh.message, rule.line, True)


def local_advice(region: Region, rule_ids: list[str], complaint: str) -> Text | None:
    """Return the region's own advice for the first fired rule (or complaint) it overrides."""
    for key in [*rule_ids, complaint]:
        if key in region.advice:
            return region.advice[key]
    return None
