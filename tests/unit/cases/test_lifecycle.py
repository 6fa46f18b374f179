"""The case state machine: every step from every state, legal or not, from one table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cases.intake import CASE_STATE_SYSTEM
from cases.lifecycle import (
    IllegalStep,
    NotACase,
    Role,
    State,
    Step,
    check,
    encounter_matches,
    put_encounter_in,
    put_task_in,
    state_of,
    step_between,
)

W, X, P = State.WAITING, State.TRANSFERRED, State.IN_PROGRESS
# The table as the design and docs/cases.md state it: step → (from, to, who may take it).
LEGAL: dict[Step, tuple[set[State], State, set[Role]]] = {
    Step.CLAIM: ({W, X}, P, {Role.CLINICIAN, Role.HUB}),
    Step.RELEASE: ({P}, W, {Role.CLINICIAN, Role.HUB}),
    Step.HANDOVER: ({P}, P, {Role.CLINICIAN, Role.HUB}),
    Step.CLOSE: ({P}, State.CLOSED, {Role.CLINICIAN, Role.HUB}),
    Step.BOOK: ({W, X, P}, State.BOOKED, {Role.CLINICIAN, Role.HUB, Role.SYSTEM}),
    Step.WITHDRAW: ({W, X}, State.WITHDRAWN, {Role.CITIZEN, Role.HUB}),
    Step.TRANSFER: ({W, X, P}, State.TRANSFERRED, {Role.CLINICIAN, Role.HUB, Role.SYSTEM}),
    Step.TRANSFER_OUT: ({W, X, P}, State.TRANSFERRED_OUT, {Role.CLINICIAN, Role.HUB, Role.SYSTEM}),
    Step.REQUEST_CONTACT: ({State.SELF_CARE}, W, {Role.CITIZEN, Role.HUB}),
}
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CELLS = [(step, state, role) for step in Step for state in State for role in Role]


@pytest.mark.parametrize(("step", "state", "role"), CELLS, ids=[f"{a}-from-{b}-by-{c}" for a, b, c in CELLS])
def test_check__follows_the_table(step: Step, state: State, role: Role) -> None:
    sources, target, roles = LEGAL[step]
    if state in sources and role in roles:
        assert check(step, state, role).target == target
    else:
        with pytest.raises(IllegalStep) as err:
            check(step, state, role)
        assert err.value.message.startswith("cannot ")
        assert err.value.step == step


def test_check__names_the_step_and_the_state() -> None:
    with pytest.raises(IllegalStep, match=r"^cannot claim: the case is closed$"):
        check(Step.CLAIM, State.CLOSED, Role.CLINICIAN)
    with pytest.raises(IllegalStep, match=r"^cannot hand over: the case is waiting$"):
        check("handover", State.WAITING, Role.CLINICIAN)
    with pytest.raises(IllegalStep, match="a citizen may not"):
        check(Step.CLAIM, State.WAITING, Role.CITIZEN)


def task(state: State, owner: str = "Organization/unit") -> dict[str, Any]:
    return put_task_in({"resourceType": "Task", "intent": "order", "owner": {"reference": owner},
                        "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]}}, state, NOW)


@pytest.mark.parametrize("state", list(State))
def test_state_of__reads_back_every_state(state: State) -> None:
    assert state_of(task(state)) == state


def test_state_of__a_status_that_disagrees_with_the_business_status_is_no_state() -> None:
    wrong = task(State.WAITING)
    wrong["status"] = "in-progress"
    with pytest.raises(NotACase):
        state_of(wrong)


ROLE = "PractitionerRole/anna"
UPDATES = [  # (from, owner before, to, owner after, step or None when refused)
    (W, "Organization/unit", P, ROLE, Step.CLAIM),
    (X, "Organization/unit", P, ROLE, Step.CLAIM),
    (P, ROLE, P, "PractitionerRole/erik", Step.HANDOVER),
    (P, ROLE, W, "Organization/unit", Step.RELEASE),
    (P, ROLE, State.CLOSED, ROLE, Step.CLOSE),
    (P, ROLE, State.BOOKED, ROLE, Step.BOOK),
    (W, "Organization/unit", P, "Organization/unit", None),  # a claim needs the clinician as owner
    (P, ROLE, W, ROLE, None),  # a release gives the case back to the unit
    (W, "Organization/unit", State.WITHDRAWN, "Organization/unit", None),  # the citizen's $withdraw only
    (W, "Organization/unit", W, "Organization/other", None),  # a transfer needs $transfer's Provenance
    (State.CLOSED, ROLE, W, "Organization/unit", None),
    (State.SELF_CARE, "Organization/unit", P, ROLE, None),
    (State.WITHDRAWN, "Organization/unit", W, "Organization/unit", None),
]


@pytest.mark.parametrize(("old", "old_owner", "new", "new_owner", "step"), UPDATES)
def test_step_between__reads_the_step_an_update_makes(old: State, old_owner: str, new: State, new_owner: str,
                                                      step: Step | None) -> None:
    before, after = task(old, old_owner), task(new, new_owner)
    if step is None:
        with pytest.raises(IllegalStep, match=r"^cannot "):
            step_between(before, after)
    else:
        found = step_between(before, after)
        assert found is not None and found.step == step


def test_step_between__an_edit_that_keeps_state_and_owner_is_no_step() -> None:
    before = task(State.IN_PROGRESS, ROLE)
    after = {**before, "note": [{"text": "Ringer upp"}]}
    assert step_between(before, after) is None


def test_put_task_in__claim_then_close_sets_the_execution_period() -> None:
    claimed = put_task_in(task(W), P, NOW, owner=ROLE)
    assert claimed["status"] == "in-progress" and claimed["owner"] == {"reference": ROLE}
    assert claimed["executionPeriod"] == {"start": "2025-03-01T12:00:00Z"}
    released = put_task_in(claimed, W, NOW, owner="Organization/unit")
    assert "executionPeriod" not in released
    closed = put_task_in(claimed, State.CLOSED, NOW)
    assert closed["status"] == "completed" and closed["executionPeriod"]["end"] == "2025-03-01T12:00:00Z"


def test_put_encounter_in__claim_names_the_performer_and_release_removes_them() -> None:
    encounter = {"resourceType": "Encounter", "status": "arrived", "participant": [{"individual": {
        "reference": "RelatedPerson/guardian"}}]}
    claimed = put_encounter_in(encounter, P, NOW, performer=ROLE)
    assert claimed["status"] == "in-progress" and encounter_matches(claimed, P)
    assert [p["individual"]["reference"] for p in claimed["participant"]] == ["RelatedPerson/guardian", ROLE]
    released = put_encounter_in(claimed, W, NOW)
    assert released["status"] == "arrived"
    assert [p["individual"]["reference"] for p in released["participant"]] == ["RelatedPerson/guardian"]
    finished = put_encounter_in(claimed, State.CLOSED, NOW)
    assert finished["status"] == "finished" and finished["period"]["end"] == "2025-03-01T12:00:00Z"


def test_step_between__a_contact_request_needs_its_operation() -> None:
    with pytest.raises(IllegalStep, match=r"^cannot request contact by updating the Task: use Task/\[id\]/\$request-contact$"):
        step_between(task(State.SELF_CARE), task(W, "Organization/unit"))


def test_put_encounter_in__a_contact_request_after_self_care_opens_the_encounter_again() -> None:
    ended = {"resourceType": "Encounter", "status": "finished",
             "period": {"start": "2025-03-01T10:00:00Z", "end": "2025-03-01T10:00:00Z"}}
    reopened = put_encounter_in(ended, W, NOW, unit="Organization/unit")
    assert reopened["status"] == "arrived" and encounter_matches(reopened, W)
    assert reopened["period"] == {"start": "2025-03-01T10:00:00Z"}
    assert reopened["serviceProvider"] == {"reference": "Organization/unit"}
