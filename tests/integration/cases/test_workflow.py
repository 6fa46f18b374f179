"""A case's life through the HTTP API with access control on: claim, release, hand over, close, withdraw."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.cases.workflow_world import ANNA, ERIK, MARIA, NILS, TOLVAN, WorkflowHub, workflow_hub


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def business(task: dict[str, Any]) -> tuple[str, str]:
    return task["status"], task["businessStatus"]["coding"][0]["code"]


def test_workflow__claim_release_claim_handover_close(world: WorkflowHub) -> None:
    task_id, encounter_id = world.open_case()
    r = world.op(ANNA, f"Task/{task_id}/$claim")
    assert r.status_code == 200, r.text
    claimed = r.json()
    assert business(claimed) == ("in-progress", "in-progress")
    anna_role = claimed["owner"]["reference"]
    assert anna_role == f"PractitionerRole/{world.id_of('PractitionerRole', ANNA.commission.commission_hsa_id)}"
    encounter = world.get(ANNA, f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "in-progress"
    assert encounter["participant"][-1]["individual"]["reference"] == anna_role

    r = world.op(ANNA, f"Task/{task_id}/$release")
    assert r.status_code == 200, r.text
    assert business(r.json()) == ("ready", "waiting")
    assert r.json()["owner"]["reference"].startswith("Organization/")
    assert world.get(ANNA, f"Encounter/{encounter_id}").json()["status"] == "arrived"

    assert world.op(ERIK, f"Task/{task_id}/$claim").status_code == 200
    r = world.op(ERIK, f"Task/{task_id}/$handover", practitioner_role={"reference": anna_role})
    assert r.status_code == 200, r.text
    assert r.json()["owner"]["reference"] == anna_role

    r = world.op(ANNA, f"Task/{task_id}/$close", outcome="advice-given", note="Råd om vila och vätska.")
    assert r.status_code == 200, r.text
    closed = r.json()
    assert business(closed) == ("completed", "closed")
    assert closed["note"][-1] == {"time": closed["note"][-1]["time"], "text": "Råd om vila och vätska.",
                                  "authorReference": {"reference": anna_role}}
    outcome = [o for o in closed["output"] if o["type"]["coding"][0]["code"] == "outcome"]
    assert outcome[0]["valueCodeableConcept"]["coding"][0]["code"] == "advice-given"
    assert world.get(ANNA, f"Encounter/{encounter_id}").json()["status"] == "finished"


def test_workflow__illegal_steps_are_409_naming_step_and_state(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    r = world.op(ANNA, f"Task/{task_id}/$close", outcome="treated")
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot close: the case is waiting"
    assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    r = world.op(ERIK, f"Task/{task_id}/$claim")
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot claim: the case is in progress"
    assert world.op(ANNA, f"Task/{task_id}/$close", outcome="treated").status_code == 200
    r = world.op(ERIK, f"Task/{task_id}/$claim")
    assert r.status_code == 409 and r.json()["issue"][0]["diagnostics"] == "cannot claim: the case is closed"
    r = world.op(TOLVAN, f"Task/{task_id}/$withdraw")
    assert r.status_code == 409 and r.json()["issue"][0]["diagnostics"] == "cannot withdraw: the case is closed"


def test_workflow__a_clinician_of_another_unit_gets_404(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    r = world.op(MARIA, f"Task/{task_id}/$claim")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert world.get(MARIA, f"Task/{task_id}").status_code == 404


def test_workflow__claim_makes_the_role_of_a_clinician_the_directory_lacks(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    r = world.op(NILS, f"Task/{task_id}/$claim")
    assert r.status_code == 200, r.text
    role = world.get(NILS, r.json()["owner"]["reference"]).json()
    assert role["identifier"][0]["value"] == NILS.commission.commission_hsa_id
    assert role["organization"]["reference"] == f"Organization/{world.id_of('Organization', 'SE2321000000-DIG1')}"


def test_workflow__the_citizen_withdraws_while_waiting(world: WorkflowHub) -> None:
    task_id, encounter_id = world.open_case()
    r = world.op(TOLVAN, f"Task/{task_id}/$withdraw", reason="Det gick över")
    assert r.status_code == 200, r.text
    assert business(r.json()) == ("cancelled", "withdrawn")
    assert r.json()["statusReason"]["text"] == "Det gick över"
    assert world.get(TOLVAN, f"Encounter/{encounter_id}").json()["status"] == "cancelled"
    r = world.op(ANNA, f"Task/{task_id}/$claim")
    assert r.status_code == 409 and r.json()["issue"][0]["diagnostics"] == "cannot claim: the case is withdrawn"


def test_workflow__only_the_citizen_withdraws_and_only_staff_claim(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    r = world.op(ANNA, f"Task/{task_id}/$withdraw")
    assert r.status_code == 403 and "cannot withdraw" in r.json()["issue"][0]["diagnostics"]
    assert world.op(TOLVAN, f"Task/{task_id}/$claim").status_code == 403


def test_workflow__another_citizen_cannot_withdraw_the_case(world: WorkflowHub) -> None:
    from tests.integration.cases.workflow_world import ANDERS

    task_id, _ = world.open_case()
    assert world.op(ANDERS, f"Task/{task_id}/$withdraw").status_code == 404


def test_workflow__handover_to_someone_outside_the_unit_is_refused(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    maria_role = world.id_of("PractitionerRole", MARIA.commission.commission_hsa_id)
    r = world.op(ANNA, f"Task/{task_id}/$handover", practitioner_role={"reference": f"PractitionerRole/{maria_role}"})
    assert r.status_code == 400 and "not a role at this case's unit" in r.json()["issue"][0]["diagnostics"]
    erik = world.id_of("Practitioner", ERIK.employee_hsa_id)
    r = world.op(ANNA, f"Task/{task_id}/$handover", practitioner={"reference": f"Practitioner/{erik}"})
    assert r.status_code == 200, r.text
    erik_role = world.id_of("PractitionerRole", ERIK.commission.commission_hsa_id)
    assert r.json()["owner"]["reference"] == f"PractitionerRole/{erik_role}"


def test_workflow__close_needs_a_known_outcome(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    r = world.op(ANNA, f"Task/{task_id}/$close", note="x")
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Parameters.parameter.outcome"]
    assert world.op(ANNA, f"Task/{task_id}/$close", outcome="fixed-it").status_code == 400


def test_workflow__operations_are_in_the_capability_statement(world: WorkflowHub) -> None:
    statement = world.client.get("/fhir/metadata").json()
    names = {op["name"] for rest in statement["rest"] for res in rest.get("resource", [])
             for op in res.get("operation", [])} | {op["name"] for rest in statement["rest"]
                                                   for op in rest.get("operation", [])}
    assert {"claim", "release", "handover", "close", "withdraw", "transfer", "queue-position",
            "waiting-room"} <= names


def test_workflow__emergency_access_reads_a_case_but_cannot_claim_it(world: WorkflowHub) -> None:
    from tests.integration.cases.workflow_world import ERIK_VC01

    task_id, _ = world.open_case()
    emergency = {**world.headers(ERIK_VC01), "X-Emergency-Access-Reason": "Medvetsl%C3%B6s patient"}
    assert world.client.get(f"/fhir/Task/{task_id}", headers=emergency).status_code == 200
    r = world.client.post(f"/fhir/Task/{task_id}/$claim", headers=emergency, json={"resourceType": "Parameters"})
    assert r.status_code == 403 and "not at your care unit" in r.json()["issue"][0]["diagnostics"]
    assert world.get(ANNA, f"Task/{task_id}").json()["status"] == "ready"
