"""PUT and PATCH of a case's Task or Encounter go through the same state machine as the operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cases.intake import CASE_STATE_SYSTEM
from tests.integration.cases.workflow_world import ANNA, WorkflowHub, workflow_hub


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def state(task: dict[str, Any], status: str, code: str, owner: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in task.items() if k != "meta"}
    out["status"] = status
    out["businessStatus"] = {"coding": [{"system": CASE_STATE_SYSTEM, "code": code}]}
    if owner:
        out["owner"] = {"reference": owner}
    return out


def put(world: WorkflowHub, resource: dict[str, Any]) -> Any:
    return world.client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", headers=world.headers(ANNA),
                            json=resource)


def anna_role(world: WorkflowHub) -> str:
    return f"PractitionerRole/{world.id_of('PractitionerRole', ANNA.commission.commission_hsa_id)}"


def test_update__a_claim_by_put_is_checked_and_the_encounter_follows(world: WorkflowHub) -> None:
    task_id, encounter_id = world.open_case()
    task = world.get(ANNA, f"Task/{task_id}").json()
    r = put(world, state(task, "in-progress", "in-progress", anna_role(world)))
    assert r.status_code == 200, r.text
    encounter = world.get(ANNA, f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "in-progress"
    assert encounter["participant"][-1]["individual"]["reference"] == anna_role(world)
    # And the waiting room knows: the case is no longer waiting.
    room = world.get(ANNA, f"Organization/{world.id_of('Organization', 'SE2321000000-DIG1')}/$waiting-room")
    assert room.json()["total"] == 0


def test_update__an_illegal_step_by_put_is_409_naming_it(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    task = world.get(ANNA, f"Task/{task_id}").json()
    r = put(world, state(task, "completed", "closed"))
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot close: the case is waiting"
    r = put(world, state(task, "cancelled", "withdrawn"))
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot withdraw by updating the Task: use Task/[id]/$withdraw"
    assert world.get(ANNA, f"Task/{task_id}").json()["meta"]["versionId"] == task["meta"]["versionId"]


def test_update__status_and_business_status_must_agree(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    task = world.get(ANNA, f"Task/{task_id}").json()
    r = put(world, {**state(task, "ready", "waiting"), "status": "completed"})
    assert r.status_code == 409 and "not a state of a case" in r.json()["issue"][0]["diagnostics"]


def test_update__a_patch_of_the_status_is_checked_too(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    patch = [{"op": "replace", "path": "/status", "value": "in-progress"},
             {"op": "replace", "path": "/businessStatus/coding/0/code", "value": "in-progress"}]
    r = world.client.patch(f"/fhir/Task/{task_id}", json=patch,
                           headers={**world.headers(ANNA), "Content-Type": "application/json-patch+json"})
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot claim: the owner must be the clinician's PractitionerRole"


def test_update__an_edit_that_keeps_the_state_is_allowed(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    task = world.get(ANNA, f"Task/{task_id}").json()
    edited = {k: v for k, v in task.items() if k != "meta"}
    edited["note"] = [{"text": "Ring gärna före tio"}]
    assert put(world, edited).status_code == 200


def test_update__the_encounter_status_follows_the_task_not_the_other_way(world: WorkflowHub) -> None:
    _task_id, encounter_id = world.open_case()
    encounter = world.get(ANNA, f"Encounter/{encounter_id}").json()
    r = put(world, {**{k: v for k, v in encounter.items() if k != "meta"}, "status": "finished"})
    assert r.status_code == 409 and r.json()["issue"][0]["expression"] == ["Encounter.status"]


def test_update__a_deleted_case_task_leaves_the_waiting_room(world: WorkflowHub) -> None:
    from cases.access import HubItself
    from fhir_api.messages import FhirRequest

    task_id, _ = world.open_case()
    unit = world.id_of("Organization", "SE2321000000-DIG1")
    assert world.get(ANNA, f"Organization/{unit}/$waiting-room").json()["total"] == 1
    world.hub.fhir.handle(FhirRequest("DELETE", f"Task/{task_id}", caller=HubItself()))
    assert world.get(ANNA, f"Organization/{unit}/$waiting-room").json()["total"] == 0
