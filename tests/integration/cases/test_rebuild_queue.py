"""`ingang cases rebuild-queue`: cases written straight into the store reach their waiting room."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from cases.intake import Intake, encounter_for, task_for
from cases.lifecycle import State, put_encounter_in, put_task_in
from cases.routing import Routing
from hub.case_queue import case_queue
from hub.case_queue_rebuild import rebuild_queue
from hub.cli import main
from tests.integration.cases.workflow_world import ANNA, DIG1, TOLVAN, WorkflowHub, workflow_hub

CLAIMED_AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def straight_into_store(world: WorkflowHub, state: State = State.WAITING) -> str:
    """Write a case's Encounter and Task with the repository alone, as an import would: no listener runs."""
    patient = f"Patient/{world.id_of('Patient', TOLVAN.person_id)}"
    unit = f"Organization/{world.id_of('Organization', DIG1)}"
    now = datetime.now(UTC) - timedelta(hours=2)
    intake = Intake(patient, "QuestionnaireResponse/imported", "within-24h", "nurse", "complaint-cough", "Hosta",
                    (), Routing("waiting-room", DIG1, "nurse", now + timedelta(hours=20)), unit, now)
    repo = world.hub.fhir.repo
    with world.hub.engine.begin() as conn:
        encounter = encounter_for(intake)
        task = task_for(intake, "Encounter/x")
        if state == State.IN_PROGRESS:
            role = f"PractitionerRole/{world.id_of('PractitionerRole', ANNA.commission.commission_hsa_id)}"
            encounter = put_encounter_in(encounter, state, CLAIMED_AT, role)
            task = put_task_in(task, state, CLAIMED_AT, role)
        stored = repo.create(conn, encounter)
        task["encounter"] = {"reference": f"Encounter/{stored.res_id}"}
        return repo.create(conn, task).res_id


def rows(world: WorkflowHub) -> dict[str, Any]:
    with world.hub.engine.connect() as conn:
        found = conn.execute(select(case_queue)).mappings().all()
    return {r["task_id"]: dict(r) for r in found}


def waiting_ids(world: WorkflowHub) -> list[str]:
    room = world.get(ANNA, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room").json()
    return [e["resource"]["id"] for e in room.get("entry", []) if e["search"]["mode"] == "match"]


def test_rebuild_queue__puts_a_case_written_around_the_server_in_its_waiting_room(world: WorkflowHub) -> None:
    opened, _ = world.open_case()
    imported = straight_into_store(world)
    assert waiting_ids(world) == [opened]
    before = rows(world)[opened]

    report = rebuild_queue(world.hub.engine)

    assert (report.cases, report.written, report.removed, report.skipped) == (2, 1, 0, ())
    assert sorted(waiting_ids(world)) == sorted([opened, imported])
    assert rows(world)[opened] == before  # a row the listener wrote is left as it was
    position = world.get(TOLVAN, f"Task/{imported}/$queue-position").json()
    assert {p["name"] for p in position["parameter"]} >= {"position", "waiting-since"}


def test_rebuild_queue__takes_unit_and_first_claim_from_the_stored_case(world: WorkflowHub) -> None:
    claimed = straight_into_store(world, State.IN_PROGRESS)
    rebuild_queue(world.hub.engine)
    row = rows(world)[claimed]
    assert row["state"] == "in-progress" and row["waiting"] is False
    assert row["unit_id"] == world.id_of("Organization", DIG1)  # the Encounter's serviceProvider
    assert row["claimed_at"] == CLAIMED_AT.replace(tzinfo=None)  # executionPeriod.start, not the rebuild's time


def test_rebuild_queue__removes_rows_of_tasks_that_are_gone_and_a_second_run_changes_nothing(
        world: WorkflowHub) -> None:
    straight_into_store(world)
    world.open_case()
    stale = dict(next(iter(rows(world).values())), task_id="no-such-task")
    with world.hub.engine.begin() as conn:
        conn.execute(insert(case_queue).values(stale))
    first = rebuild_queue(world.hub.engine, batch=1)  # batches of one: the walk goes on from the last id
    assert (first.cases, first.written, first.removed) == (2, 1, 1)
    after = rows(world)
    second = rebuild_queue(world.hub.engine)
    assert (second.cases, second.written, second.removed) == (2, 0, 0)
    assert rows(world) == after


def test_cli__rebuild_queue_runs_over_the_configured_database(
        world: WorkflowHub, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    imported = straight_into_store(world)
    monkeypatch.setenv("INGANG_DATABASE_URL", database_url)
    monkeypatch.setenv("INGANG_AUTO_MIGRATE", "false")
    monkeypatch.setenv("INGANG_DEMO_DATA", "false")
    assert main(["cases", "rebuild-queue"]) == 0
    assert "1 rows written" in capsys.readouterr().out
    assert imported in waiting_ids(world)
