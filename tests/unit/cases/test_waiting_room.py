"""Waiting-room order, the queue row a case Task keeps, and the estimated wait."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cases.intake import CASE_STATE_SYSTEM, COMPETENCE_SYSTEM
from cases.lifecycle import State, put_task_in
from cases.waiting_room import (
    NO_DEADLINE,
    decode_page_key,
    encode_page_key,
    estimated_wait,
    priority_rank,
    queue_row,
)

NOW = datetime(2025, 3, 1, 12, 0)


@pytest.mark.parametrize(("priority", "rank"), [("stat", 0), ("asap", 1), ("urgent", 2), ("routine", 3),
                                                 (None, 4), ("soon", 4)])
def test_priority_rank__follows_request_priority_from_most_urgent(priority: Any, rank: int) -> None:
    assert priority_rank(priority) == rank


def case_task(**extra: Any) -> dict[str, Any]:
    task = {"resourceType": "Task", "id": "t1", "status": "ready", "intent": "order", "priority": "asap",
            "code": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "triage-case"}]},
            "businessStatus": {"coding": [{"system": CASE_STATE_SYSTEM, "code": "waiting"}]},
            "owner": {"reference": "Organization/dig1"}, "for": {"reference": "Patient/p1"},
            "encounter": {"reference": "Encounter/e1"}, "authoredOn": "2025-03-01T10:00:00+01:00",
            "performerType": [{"coding": [{"system": COMPETENCE_SYSTEM, "code": "nurse"}]}]}
    task.update(extra)
    return task


def test_queue_row__reads_the_sort_key_from_the_task() -> None:
    row = queue_row(case_task(restriction={"period": {"end": "2025-03-02T09:00:00Z"}}), None, NOW)
    assert row is not None
    assert (row.unit_id, row.competence, row.priority_rank, row.state) == ("dig1", "nurse", 1, "waiting")
    assert row.answer_by == datetime(2025, 3, 2, 9, 0) and row.waiting_since == datetime(2025, 3, 1, 9, 0)
    assert (row.encounter_id, row.patient_id, row.claimed_at) == ("e1", "p1", None)
    assert queue_row(case_task(), None, NOW).answer_by == NO_DEADLINE  # type: ignore[union-attr]


def test_queue_row__a_claim_keeps_the_unit_and_arrival_and_notes_the_first_claim() -> None:
    first = queue_row(case_task(), None, NOW)
    claimed_task = put_task_in(case_task(), State.IN_PROGRESS, NOW, owner="PractitionerRole/anna")
    claimed_task["id"] = "t1"
    claimed = queue_row(claimed_task, first, NOW + timedelta(minutes=5))
    assert claimed is not None and first is not None
    assert (claimed.unit_id, claimed.waiting_since, claimed.claimed_at) == ("dig1", first.waiting_since,
                                                                           NOW + timedelta(minutes=5))
    released = queue_row(case_task(), claimed, NOW + timedelta(minutes=9))
    assert released is not None and released.claimed_at == claimed.claimed_at


def test_queue_row__a_task_that_is_no_case_has_none() -> None:
    assert queue_row({**case_task(), "code": {"text": "Ring tillbaka"}}, None, NOW) is None


def test_estimated_wait__from_the_pace_of_recent_claims() -> None:
    claims = [(NOW - timedelta(minutes=m + 30), NOW - timedelta(minutes=m)) for m in (10, 40, 70, 100)]
    # Four claims in two hours: one every 30 minutes; the third in line waits 90 minutes.
    assert estimated_wait(3, claims, NOW) == timedelta(minutes=90)


def test_estimated_wait__falls_back_to_the_median_of_older_waits() -> None:
    old = NOW - timedelta(days=1)
    claims = [(old - timedelta(minutes=w), old) for w in (10, 20, 60)]
    assert estimated_wait(5, claims, NOW) == timedelta(minutes=20)


def test_estimated_wait__none_without_any_claims() -> None:
    assert estimated_wait(1, [], NOW) is None


def test_page_key__survives_the_round_trip_through_a_link() -> None:
    key = (1, datetime(2025, 3, 2, 8, 0, 0, 250), NOW, "task-1.a")
    token = encode_page_key(key)
    assert token.isascii() and "=" not in token and "&" not in token
    assert decode_page_key(token) == key
    assert decode_page_key(encode_page_key((4, NO_DEADLINE, NOW, "x"))) == (4, NO_DEADLINE, NOW, "x")


@pytest.mark.parametrize("token", [
    "", "bm90LWEta2V5", "!!!", "MX4yfjN-",
    "eH4yMDI1MDMwMlQwODAwMDAuMDAwMDAwfjIwMjUwMzAxVDEyMDAwMC4wMDAwMDB-dA",  # rank 'x'
])
def test_page_key__refuses_a_token_it_did_not_make(token: str) -> None:
    with pytest.raises(ValueError, match="not a page token"):
        decode_page_key(token)
