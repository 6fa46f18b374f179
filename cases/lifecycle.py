"""Move a case through its life: one state machine over its Task and its Encounter.

A case's state is carried by the Task (status + businessStatus) and mirrored by the
Encounter's status, so an EHR reading either sees the same thing. Every way of changing a
case — the `$claim`-style operations, a PUT or PATCH of the Task, booking, a transfer to
another hub — asks `check` (or `step_between`) first, so there is one table of what may
happen, and an illegal step is refused with words that name the step and the state.
https://hl7.org/fhir/R4/task.html#statemachine
https://hl7.org/fhir/R4/encounter.html#statemachine
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cases.intake import CASE_STATE_SYSTEM

CASE_CODE = "triage-case"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PRIMARY_PERFORMER = "PPRF"
CLOSE_OUTCOME_SYSTEM = "https://ingang.example/fhir/CodeSystem/case-outcome"
# How a clinician may close a case ($close's `outcome`), with the words the journal shows.
CLOSE_OUTCOMES = {
    "advice-given": "Råd givna", "treated": "Behandlad", "prescribed": "Recept utfärdat",
    "referred": "Remitterad", "no-action-needed": "Ingen åtgärd behövs", "no-answer": "Invånaren svarade inte",
}


class State(StrEnum):
    """Where a case is; the value is the Task's businessStatus code."""

    WAITING = "waiting"
    TRANSFERRED = "transferred"  # waiting at the unit it was moved to
    IN_PROGRESS = "in-progress"
    CLOSED = "closed"
    BOOKED = "booked"
    WITHDRAWN = "withdrawn"
    TRANSFERRED_OUT = "transferred-out"
    REFERRED_EMERGENCY = "referred-emergency"
    SELF_CARE = "self-care-advice"
    REFERRED_OUT_OF_HOURS = "referred-out-of-hours"


class Step(StrEnum):
    """Something that happens to a case; the value is the operation's name."""

    CLAIM = "claim"
    RELEASE = "release"
    HANDOVER = "handover"
    CLOSE = "close"
    BOOK = "book"
    WITHDRAW = "withdraw"
    TRANSFER = "transfer"
    TRANSFER_OUT = "transfer-out"
    # After self-care advice the citizen may still ask to be contacted: the case goes to a waiting room.
    REQUEST_CONTACT = "request-contact"


class Role(StrEnum):
    """Who takes a step: the rules differ for the citizen, staff, regional systems and the hub."""

    CITIZEN = "citizen"
    CLINICIAN = "clinician"
    SYSTEM = "system"
    HUB = "hub"


@dataclass(frozen=True)
class Shape:
    """How a state shows on the resources: Task status, its businessStatus text, Encounter status."""

    task_status: str
    text: str
    encounter_status: str
    words: str  # the state in an error message: "the case is <words>"


SHAPES: dict[State, Shape] = {
    State.WAITING: Shape("ready", "Väntar i väntrummet", "arrived", "waiting"),
    State.TRANSFERRED: Shape("ready", "Flyttat hit, väntar i väntrummet", "arrived",
                             "waiting after a transfer"),
    State.IN_PROGRESS: Shape("in-progress", "Pågår", "in-progress", "in progress"),
    State.CLOSED: Shape("completed", "Avslutat", "finished", "closed"),
    State.BOOKED: Shape("completed", "Avslutat med bokad tid", "finished", "closed with a booking"),
    State.WITHDRAWN: Shape("cancelled", "Återtaget av invånaren", "cancelled", "withdrawn"),
    State.TRANSFERRED_OUT: Shape("completed", "Flyttat till en annan hubb", "finished",
                                 "transferred to another hub"),
    State.REFERRED_EMERGENCY: Shape("completed", "Hänvisad till akut vård", "finished",
                                    "closed as referred to emergency care"),
    State.SELF_CARE: Shape("completed", "Egenvårdsråd givna", "finished", "closed with self-care advice"),
    State.REFERRED_OUT_OF_HOURS: Shape("completed", "Hänvisad utanför öppettid", "finished",
                                       "closed as referred out of hours"),
}
WAITING_STATES = frozenset({State.WAITING, State.TRANSFERRED})
OPEN_STATES = WAITING_STATES | {State.IN_PROGRESS}
# Ended: the Task completed or cancelled. Only self-care advice may be left again (request-contact).
TERMINAL_STATES = frozenset(State) - OPEN_STATES


@dataclass(frozen=True)
class Transition:
    """One row of the table: a step, the states it may start from, where it ends, and who may take it.

    `by_update` says the step may also be made by writing the Task (PUT/PATCH); the others
    leave a record an update cannot (a Provenance, the citizen's own say-so) and need their
    operation.
    """

    step: Step
    sources: frozenset[State]
    target: State
    roles: frozenset[Role]
    by_update: bool


def _t(step: Step, sources: frozenset[State], target: State, roles: set[Role], by_update: bool) -> Transition:
    return Transition(step, sources, target, frozenset(roles), by_update)


STAFF = {Role.CLINICIAN, Role.HUB}
TRANSITIONS: dict[Step, Transition] = {t.step: t for t in (
    _t(Step.CLAIM, WAITING_STATES, State.IN_PROGRESS, STAFF, True),
    _t(Step.RELEASE, frozenset({State.IN_PROGRESS}), State.WAITING, STAFF, True),
    _t(Step.HANDOVER, frozenset({State.IN_PROGRESS}), State.IN_PROGRESS, STAFF, True),
    _t(Step.CLOSE, frozenset({State.IN_PROGRESS}), State.CLOSED, STAFF, True),
    _t(Step.BOOK, OPEN_STATES, State.BOOKED, STAFF | {Role.SYSTEM}, True),
    _t(Step.WITHDRAW, WAITING_STATES, State.WITHDRAWN, {Role.CITIZEN, Role.HUB}, False),
    _t(Step.TRANSFER, OPEN_STATES, State.TRANSFERRED, STAFF | {Role.SYSTEM}, False),
    _t(Step.TRANSFER_OUT, OPEN_STATES, State.TRANSFERRED_OUT, STAFF | {Role.SYSTEM}, False),
    _t(Step.REQUEST_CONTACT, frozenset({State.SELF_CARE}), State.WAITING, {Role.CITIZEN, Role.HUB}, False),
)}


class IllegalStep(Exception):
    """A step the case's state (or the one taking it) does not allow; the message says which and why."""

    def __init__(self, step: str, state: State | None, message: str, *, by_role: bool = False) -> None:
        super().__init__(message)
        self.step, self.state, self.message = step, state, message
        self.by_role = by_role  # refused for who takes it, not for the state the case is in


class NotACase(ValueError):
    """The Task is not a case Task, or its status and businessStatus name no state of a case."""


def is_case_task(task: Mapping[str, Any]) -> bool:
    """Tell whether a Task is a case's work item (code `triage-case`), which this machine governs."""
    code = task.get("code")
    codings = code.get("coding") if isinstance(code, Mapping) else None
    return any(isinstance(c, Mapping) and c.get("system") == CASE_STATE_SYSTEM and c.get("code") == CASE_CODE
               for c in codings or [])


def state_of(task: Mapping[str, Any]) -> State:
    """Return the state a case Task is in, from its businessStatus code checked against its status."""
    business = task.get("businessStatus")
    codings = business.get("coding") if isinstance(business, Mapping) else None
    codes = [str(c.get("code")) for c in codings or []
             if isinstance(c, Mapping) and c.get("system") == CASE_STATE_SYSTEM]
    try:
        state = State(codes[0]) if codes else None
    except ValueError:
        state = None
    if state is None or SHAPES[state].task_status != task.get("status"):
        raise NotACase(f"Task status '{task.get('status')}' with businessStatus {codes or 'missing'} "
                       "is not a state of a case")
    return state


def check(step: Step | str, state: State, role: Role) -> Transition:
    """Return the transition for taking `step` from `state`, or raise IllegalStep saying why not."""
    try:
        transition = TRANSITIONS[Step(step)]
    except ValueError:
        raise IllegalStep(str(step), state, f"cannot {step}: no such step for a case") from None
    if state not in transition.sources:
        raise IllegalStep(transition.step, state, f"cannot {verb(transition.step)}: the case is {SHAPES[state].words}")
    if role not in transition.roles:
        raise IllegalStep(transition.step, state,
                          f"cannot {verb(transition.step)}: a {role} may not take this step", by_role=True)
    return transition


def verb(step: Step) -> str:
    """Return the step as words for a message: "hand over", "claim"."""
    return {Step.HANDOVER: "hand over", Step.TRANSFER_OUT: "transfer to another hub",
            Step.REQUEST_CONTACT: "request contact"}.get(step, str(step))


def owner_of(task: Mapping[str, Any]) -> str | None:
    """Return the Task's owner reference (`Organization/x` or `PractitionerRole/y`), if any."""
    owner = task.get("owner")
    ref = owner.get("reference") if isinstance(owner, Mapping) else None
    return ref if isinstance(ref, str) else None


def step_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> Transition | None:
    """Return the transition an update of a case Task makes, None when it changes neither state nor owner.

    For PUT and PATCH: the step is read from the two versions, then checked as a clinician's
    (or system's) step would be; steps that need their operation's record are refused.
    """
    old, new = state_of(before), state_of(after)
    old_owner, new_owner = owner_of(before), owner_of(after)
    if old == new and old_owner == new_owner:
        return None
    step = _inferred(old, new, old_owner, new_owner)
    if step is None:
        raise IllegalStep("update", old, f"cannot change the case from {SHAPES[old].words} to {SHAPES[new].words}")
    transition = check(step, old, Role.HUB)
    if transition.target != new:
        raise IllegalStep(step, old, f"cannot {verb(step)}: it leaves the case {SHAPES[transition.target].words}, "
                                     f"not {SHAPES[new].words}")
    if not transition.by_update:
        raise IllegalStep(step, old, f"cannot {verb(step)} by updating the Task: use Task/[id]/${step}")
    if step in (Step.CLAIM, Step.HANDOVER) and not (new_owner or "").startswith("PractitionerRole/"):
        raise IllegalStep(step, old, f"cannot {verb(step)}: the owner must be the clinician's PractitionerRole")
    if step is Step.RELEASE and not (new_owner or "").startswith("Organization/"):
        raise IllegalStep(step, old, "cannot release: the owner must go back to the care unit's Organization")
    return transition


def _inferred(old: State, new: State, old_owner: str | None, new_owner: str | None) -> Step | None:
    moved_unit = (new_owner or "").startswith("Organization/") and (old_owner or "").startswith("Organization/")
    if new == State.IN_PROGRESS:
        return Step.HANDOVER if old == State.IN_PROGRESS else Step.CLAIM
    if new == State.WAITING and old == State.IN_PROGRESS and not moved_unit:
        return Step.RELEASE
    if new in WAITING_STATES and old == State.SELF_CARE:
        return Step.REQUEST_CONTACT
    if new == State.TRANSFERRED or (new == State.WAITING and moved_unit):
        return Step.TRANSFER
    return {State.CLOSED: Step.CLOSE, State.BOOKED: Step.BOOK, State.WITHDRAWN: Step.WITHDRAW,
            State.TRANSFERRED_OUT: Step.TRANSFER_OUT}.get(new)


def _instant(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def put_task_in(task: dict[str, Any], state: State, now: datetime, owner: str | None = None) -> dict[str, Any]:
    """Return a copy of the Task in `state` (and owned by `owner`, when given), stamped `now`."""
    out = copy.deepcopy(task)
    out.pop("meta", None)
    out["status"] = SHAPES[state].task_status
    out["businessStatus"] = {"coding": [{"system": CASE_STATE_SYSTEM, "code": str(state)}], "text": SHAPES[state].text}
    out["lastModified"] = _instant(now)
    if owner is not None:
        out["owner"] = {"reference": owner}
    period = dict(out.get("executionPeriod") or {})
    if state == State.IN_PROGRESS:
        period.setdefault("start", _instant(now))
    elif state in TERMINAL_STATES:
        period["end"] = _instant(now)
    else:
        period = {}  # back in a waiting room: nobody is working on it
    if period:
        out["executionPeriod"] = period
    else:
        out.pop("executionPeriod", None)
    return out


def put_encounter_in(encounter: dict[str, Any], state: State, now: datetime, performer: str | None = None,
                     unit: str | None = None) -> dict[str, Any]:
    """Return a copy of the Encounter mirroring `state`, with its primary performer and serving unit."""
    out = copy.deepcopy(encounter)
    out.pop("meta", None)
    out["status"] = SHAPES[state].encounter_status
    if unit is not None:
        out["serviceProvider"] = {"reference": unit}
    others = [p for p in out.get("participant") or [] if not _is_primary(p)]
    if state == State.IN_PROGRESS and performer is not None:
        others.append({"type": [{"coding": [{"system": PARTICIPATION_SYSTEM, "code": PRIMARY_PERFORMER,
                                              "display": "primary performer"}]}],
                       "individual": {"reference": performer}})
    if others:
        out["participant"] = others
    else:
        out.pop("participant", None)
    if state in TERMINAL_STATES:
        out.setdefault("period", {})["end"] = _instant(now)
    elif isinstance(out.get("period"), dict):
        out["period"].pop("end", None)  # open again (a contact asked for after self-care advice)
    return out


def _is_primary(participant: Any) -> bool:
    if not isinstance(participant, Mapping):
        return False
    return any(isinstance(c, Mapping) and c.get("code") == PRIMARY_PERFORMER
               for t in participant.get("type") or [] if isinstance(t, Mapping) for c in t.get("coding") or [])


def encounter_matches(encounter: Mapping[str, Any], state: State) -> bool:
    """Tell whether an Encounter's status is the one the case's state gives it."""
    return encounter.get("status") == SHAPES[state].encounter_status
