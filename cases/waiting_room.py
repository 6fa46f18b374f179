"""Order a care unit's waiting room and estimate how long a citizen has left to wait.

The order is the one 1177 direkt units work by: the most urgent first (Task.priority stat,
asap, urgent, routine), then whoever must be answered soonest (Task.restriction.period.end,
the answer-by time the region's rules set), then whoever has waited longest. A case keeps its
first arrival time when it is released or transferred, so nobody goes to the back of a queue
for something a clinician did. This module is pure: the hub keeps one queue row per case
Task (hub/case_queue.py) and asks these functions what to store and what to say.
https://hl7.org/fhir/R4/task.html
"""

from __future__ import annotations

import base64
import binascii
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cases.intake import CASE_STATE_SYSTEM, COMPETENCE_SYSTEM
from cases.lifecycle import OPEN_STATES, State, is_case_task, owner_of, state_of

# Task.priority (request-priority) from most to least urgent; anything else sorts last.
PRIORITY_ORDER = ("stat", "asap", "urgent", "routine")
# Cases with no answer-by time sort after every dated one; the same on SQLite and PostgreSQL.
NO_DEADLINE = datetime(9999, 12, 31)
# How far back claims count towards the unit's pace, and how many waits the fallback looks at.
PACE_WINDOW = timedelta(hours=2)
RECENT_WAITS = 20


def priority_rank(priority: Any) -> int:
    """Return the sort rank of a Task.priority code: 0 for stat … 3 for routine, 4 for none."""
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else len(PRIORITY_ORDER)


def parse_instant(text: Any) -> datetime | None:
    """Read a FHIR instant or dateTime as naive UTC (how the store keeps times), or None."""
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _ref_id(ref: Any, kind: str) -> str | None:
    text = ref.get("reference") if isinstance(ref, Mapping) else None
    if isinstance(text, str) and text.startswith(f"{kind}/") and text.count("/") == 1:
        return text.split("/", 1)[1]
    return None


def competence_of(task: Mapping[str, Any]) -> str:
    """Return the competence a case needs (Task.performerType), or '' when any will do."""
    for concept in task.get("performerType") or []:
        for coding in (concept.get("coding") or []) if isinstance(concept, Mapping) else []:
            if isinstance(coding, Mapping) and coding.get("system") == COMPETENCE_SYSTEM and coding.get("code"):
                return str(coding["code"])
    return ""


CONTACT_REQUESTED = "contact-requested"  # Task.output type: when the citizen asked for contact after self-care
_OPEN = frozenset(str(s) for s in OPEN_STATES)


def arrival_of(task: Mapping[str, Any]) -> datetime | None:
    """Return when the case arrived in a waiting room: the contact request after self-care advice, else authoredOn."""
    for output in task.get("output") or []:
        kind = output.get("type") if isinstance(output, Mapping) else None
        if isinstance(kind, Mapping) and any(isinstance(c, Mapping) and c.get("system") == CASE_STATE_SYSTEM
                                             and c.get("code") == CONTACT_REQUESTED for c in kind.get("coding") or []):
            return parse_instant(output.get("valueDateTime"))
    return parse_instant(task.get("authoredOn"))


@dataclass(frozen=True)
class QueueRow:
    """What the waiting room needs of one case Task, kept beside it in the same transaction."""

    task_id: str
    state: str
    unit_id: str | None
    competence: str
    priority_rank: int
    answer_by: datetime
    waiting_since: datetime
    encounter_id: str | None
    patient_id: str | None
    claimed_at: datetime | None = None


def queue_row(task: Mapping[str, Any], before: QueueRow | None, now: datetime) -> QueueRow | None:
    """Return the queue row of a case Task as it now is, from its previous row; None if not a case.

    The unit is the owning Organization; while a clinician's PractitionerRole owns the case it
    stays at the unit it was claimed at. The first claim's time is kept for the unit's pace.
    """
    if not is_case_task(task) or not isinstance(task.get("id"), str):
        return None
    state = state_of(task)
    owner = owner_of(task) or ""
    unit = owner.split("/", 1)[1] if owner.startswith("Organization/") else (before.unit_id if before else None)
    restriction = task.get("restriction")
    period = restriction.get("period") if isinstance(restriction, Mapping) else None
    answer_by = parse_instant(period.get("end")) if isinstance(period, Mapping) else None
    # A case keeps its place while open; one that comes back from an end (a contact asked for
    # after self-care advice) arrives when it came back.
    since = before.waiting_since if before and before.state in _OPEN else (arrival_of(task) or now)
    claimed = before.claimed_at if before else None
    if state == State.IN_PROGRESS and claimed is None:
        claimed = now
    return QueueRow(task_id=task["id"], state=str(state), unit_id=unit, competence=competence_of(task),
                    priority_rank=priority_rank(task.get("priority")), answer_by=answer_by or NO_DEADLINE,
                    waiting_since=since, encounter_id=_ref_id(task.get("encounter"), "Encounter"),
                    patient_id=_ref_id(task.get("for"), "Patient"), claimed_at=claimed)


# The position after which a waiting-room page starts: (priority rank, answer-by, arrival, Task id).
PageKey = tuple[int, datetime, datetime, str]
_KEY_TIME = "%Y%m%dT%H%M%S.%f"


def page_key(row: QueueRow) -> PageKey:
    """Return a row's place in the waiting-room order, the key a next page starts after."""
    return (row.priority_rank, row.answer_by, row.waiting_since, row.task_id)


def encode_page_key(key: PageKey) -> str:
    """Return a page key as an opaque token for a `next` link.

    Why a key, not an offset: cases are claimed and arrive while staff page, and an offset
    would then skip or repeat cases; the next page starts after the last case shown, wherever
    that now is.
    """
    rank, answer_by, since, task_id = key
    text = f"{rank}~{answer_by.strftime(_KEY_TIME)}~{since.strftime(_KEY_TIME)}~{task_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_page_key(token: str) -> PageKey:
    """Read a token made by `encode_page_key`; ValueError when it is not one."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        rank, answer_by, since, task_id = text.split("~", 3)
        key = (int(rank), datetime.strptime(answer_by, _KEY_TIME), datetime.strptime(since, _KEY_TIME), task_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ValueError("not a page token of this waiting room") from None
    if not task_id:
        raise ValueError("not a page token of this waiting room")
    return key


def estimated_wait(position: int, claims: Sequence[tuple[datetime, datetime]], now: datetime) -> timedelta | None:
    """Estimate how long the case at `position` (1 = next) has left to wait, from the unit's recent claims.

    `claims` are (arrived, claimed) pairs of the unit's latest claims, newest first. With two
    or more claims in the last two hours the unit's pace is claims per minute over that
    window, and the estimate is position ÷ pace (each case ahead, and this one, must be taken
    at that pace). Otherwise it is the median wait of the unit's last 20 claims. None when the
    unit has claimed nothing yet: no figure is better than an invented one.
    """
    if position < 1 or not claims:
        return None
    recent = [c for _a, c in claims if now - c <= PACE_WINDOW]
    if len(recent) >= 2:
        per_minute = len(recent) / (PACE_WINDOW.total_seconds() / 60)
        return timedelta(minutes=round(position / per_minute))
    waits = [(c - a).total_seconds() for a, c in claims[:RECENT_WAITS]]
    return timedelta(seconds=round(statistics.median(waits)))


def minutes(delta: timedelta) -> int:
    """Return a duration in whole minutes, never negative."""
    return max(0, int(delta.total_seconds() // 60))
