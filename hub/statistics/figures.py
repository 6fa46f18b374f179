"""Work out a region's figures from the facts of its cases: pure arithmetic, no I/O.

The loader (hub/statistics/cases.py) reads Tasks, their versions and Encounters and turns
each case into `CaseFacts`; this module counts them. Days are Swedish calendar days
(Europe/Stockholm), because that is how a region plans its staffing; waiting time is from
the moment the case was opened (Task.authoredOn) to its first claim, in minutes.
https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

SWEDISH_TIME = ZoneInfo("Europe/Stockholm")
SELF_CARE = "self-care"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Claim:
    """One claim of a case: who took it (their PractitionerRole id), at which unit, when."""

    role_id: str
    unit_id: str | None
    at: datetime


@dataclass(frozen=True)
class CaseFacts:
    """What the figures need to know about one case."""

    task_id: str
    opened: datetime
    disposition: str
    complaint: str
    unit_id: str | None
    counted: bool  # opened in the region (its own case), not only claimed there after a transfer
    claims: tuple[Claim, ...] = ()
    waiting_at: str | None = None  # the region's unit whose waiting room it is in now, if any


@dataclass(frozen=True)
class Names:
    """Display names for the ids in the figures: units and clinicians' roles."""

    units: Mapping[str, str]
    roles: Mapping[str, str]


def local_day(at: datetime) -> date:
    """Return the Swedish calendar day of an instant."""
    return at.astimezone(SWEDISH_TIME).date()


def nearest_rank(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile: the smallest value with `fraction` of all at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _minutes(value: float) -> float:
    return round(value, 1)


def waiting_minutes(case: CaseFacts) -> float | None:
    """Return minutes from opening to the first claim, or None when nobody has claimed it."""
    if not case.claims:
        return None
    first = min(c.at for c in case.claims)
    return max(0.0, (first - case.opened).total_seconds() / 60)


def compute(cases: Iterable[CaseFacts], names: Names, *, first: date, last: date) -> dict[str, Any]:
    """Return the region's figures for the days `first`..`last` (inclusive) as a JSON-ready dict."""
    cases = list(cases)
    own = [c for c in cases if c.counted]
    by_disposition: Counter[tuple[date, str]] = Counter((local_day(c.opened), c.disposition) for c in own)
    by_complaint: Counter[tuple[date, str]] = Counter((local_day(c.opened), c.complaint) for c in own)
    self_care = sum(1 for c in own if c.disposition == SELF_CARE)
    waits: dict[str, list[float]] = defaultdict(list)
    waiting_now: Counter[str] = Counter()
    claims: Counter[tuple[str, str | None]] = Counter()
    for case in cases:
        minutes = waiting_minutes(case)
        if minutes is not None:
            unit = min(case.claims, key=lambda c: c.at).unit_id
            if unit is not None:
                waits[unit].append(minutes)
        if case.waiting_at is not None:
            waiting_now[case.waiting_at] += 1
        for claim in case.claims:
            if claim.unit_id is not None:
                claims[(claim.role_id, claim.unit_id)] += 1
    units = sorted(set(waits) | set(waiting_now), key=lambda u: names.units.get(u, u))
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": str(SWEDISH_TIME),
        "cases": len(own),
        "dispositions": dict(sorted(Counter(c.disposition for c in own).items())),
        "complaints": dict(sorted(Counter(c.complaint for c in own).items())),
        "casesPerDay": [{"date": d.isoformat(), "disposition": k, "count": n}
                        for (d, k), n in sorted(by_disposition.items())],
        "casesPerDayByComplaint": [{"date": d.isoformat(), "complaint": k, "count": n}
                                   for (d, k), n in sorted(by_complaint.items())],
        "selfCare": {"cases": self_care, "share": round(self_care / len(own), 4) if own else None},
        "waitingTimes": [{
            "unit": unit, "unitName": names.units.get(unit, unit), "claimed": len(waits[unit]),
            "waitingNow": waiting_now[unit],
            "medianMinutes": _minutes(statistics.median(waits[unit])) if waits[unit] else None,
            "p90Minutes": _minutes(nearest_rank(waits[unit], 0.9)) if waits[unit] else None,
        } for unit in units],
        "claims": [{"practitionerRole": role, "name": names.roles.get(role, role), "unit": unit,
                    "unitName": names.units.get(unit or "", unit or ""), "claims": n}
                   for (role, unit), n in sorted(claims.items(), key=lambda item: (-item[1], item[0][0]))],
    }


CSV_COLUMNS = ("figure", "date", "key", "name", "value")


def as_csv(figures: Mapping[str, Any]) -> str:
    """Return the figures as one long CSV table (one figure per row), for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in figures["casesPerDay"]:
        writer.writerow(("cases_by_disposition", row["date"], row["disposition"], "", row["count"]))
    complaint_names = figures.get("complaintNames") or {}
    for row in figures["casesPerDayByComplaint"]:
        name = (complaint_names.get(row["complaint"]) or {}).get("sv", "")
        writer.writerow(("cases_by_complaint", row["date"], row["complaint"], _safe(name), row["count"]))
    share = figures["selfCare"]["share"]
    writer.writerow(("self_care_cases", "", "", "", figures["selfCare"]["cases"]))
    writer.writerow(("self_care_share", "", "", "", "" if share is None else share))
    for row in figures["waitingTimes"]:
        for key, figure in (("claimed", "claimed_cases"), ("medianMinutes", "waiting_median_minutes"),
                            ("p90Minutes", "waiting_p90_minutes"), ("waitingNow", "waiting_now")):
            value = row[key]
            writer.writerow((figure, "", row["unit"], _safe(row["unitName"]), "" if value is None else value))
    for row in figures["claims"]:
        writer.writerow(("claims", "", row["practitionerRole"], _safe(row["name"]), row["claims"]))
    return out.getvalue()


def _safe(text: str) -> str:
    """Keep a spreadsheet from running a name as a formula (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
