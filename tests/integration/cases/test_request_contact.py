"""After self-care advice the citizen may still ask for contact: `Task/{id}/$request-contact`, over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cases.access import HubItself
from cases.intake import Intake, encounter_for, task_for
from cases.principals import Guardian
from cases.routing import Routing
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import Conflict
from hub.app import create_app
from hub.triage_wiring import REGIONS_DIR
from tests.conftest import hub_settings
from tests.integration.cases.test_workflow_from_triage import world as world  # fixture: units open all hours
from tests.integration.cases.workflow_world import ANDERS, ANNA, DIG1, LILLY_PNR, TOLVAN, WorkflowHub


def self_care_case(world: WorkflowHub, pnr: str = TOLVAN.person_id) -> tuple[str, str]:
    """Open a case that triage ended with self-care advice, as intake writes it; return (Task, Encounter)."""
    patient = f"Patient/{world.id_of('Patient', pnr)}"
    qr = world.write({"resourceType": "QuestionnaireResponse", "status": "completed",
                      "subject": {"reference": patient}, "author": {"reference": patient}})
    intake = Intake(patient, f"QuestionnaireResponse/{qr}", "self-care", "nurse", "complaint-cough", "Hosta", (),
                    Routing("self-care", None, None, None), None, datetime.now(UTC) - timedelta(days=1))
    encounter = world.write(encounter_for(intake))
    return world.write(task_for(intake, f"Encounter/{encounter}")), encounter


def ask(world: WorkflowHub, who: Any, task_id: str, reason: str | None = None) -> Any:
    return world.op(who, f"Task/{task_id}/$request-contact", **({"reason": reason} if reason else {}))


def waiting_ids(world: WorkflowHub) -> list[str]:
    room = world.get(ANNA, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room").json()
    return [e["resource"]["id"] for e in room.get("entry", []) if e["search"]["mode"] == "match"]


def test_request_contact__puts_the_self_care_case_in_the_routed_units_waiting_room(world: WorkflowHub) -> None:
    task_id, encounter_id = self_care_case(world)
    assert task_id not in waiting_ids(world)
    asked = datetime.now(UTC).replace(microsecond=0)
    r = ask(world, TOLVAN, task_id, reason="Hostan har inte gått över")
    assert r.status_code == 200, r.text
    task = r.json()
    unit = f"Organization/{world.id_of('Organization', DIG1)}"
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("ready", "waiting")
    assert task["owner"] == {"reference": unit} and task["priority"] == "routine"
    assert datetime.fromisoformat(task["restriction"]["period"]["end"]) >= asked + timedelta(days=7)
    assert task["note"][0]["text"] == "Hostan har inte gått över"
    assert task["note"][0]["authorReference"] == task["for"]
    encounter = world.get(TOLVAN, f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "arrived" and encounter["serviceProvider"] == {"reference": unit}
    assert "end" not in encounter["period"]
    assert task_id in waiting_ids(world)
    position = {p["name"]: p for p in world.get(TOLVAN, f"Task/{task_id}/$queue-position").json()["parameter"]}
    # It arrived when contact was asked for, not at yesterday's triage.
    assert datetime.fromisoformat(position["waiting-since"]["valueInstant"]) >= asked
    assert position["position"]["valueInteger"] == 1


def test_request_contact__a_guardian_asks_for_their_child(world: WorkflowHub) -> None:
    task_id, _ = self_care_case(world, LILLY_PNR)
    r = ask(world, Guardian(ANDERS, LILLY_PNR), task_id)
    assert r.status_code == 200, r.text
    assert task_id in waiting_ids(world)


def test_request_contact__a_second_request_is_409_naming_the_state(world: WorkflowHub) -> None:
    task_id, _ = self_care_case(world)
    assert ask(world, TOLVAN, task_id).status_code == 200
    again = ask(world, TOLVAN, task_id)
    assert again.status_code == 409
    issue = again.json()["issue"][0]
    assert issue["code"] == "business-rule" and issue["diagnostics"] == "cannot request contact: the case is waiting"
    assert waiting_ids(world).count(task_id) == 1


def test_request_contact__on_a_case_that_was_not_ended_with_self_care_is_409(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    r = ask(world, TOLVAN, task_id)
    assert r.status_code == 409
    assert r.json()["issue"][0]["diagnostics"] == "cannot request contact: the case is waiting"


def test_request_contact__is_the_citizens_own_step(world: WorkflowHub) -> None:
    task_id, _ = self_care_case(world)
    assert ask(world, ANDERS, task_id).status_code == 404  # someone else's case is not there for him
    assert ask(world, ANNA, task_id).status_code in (403, 404)  # staff do not ask on the citizen's behalf
    assert task_id not in waiting_ids(world)


def test_request_contact__cannot_be_made_by_updating_the_task(world: WorkflowHub) -> None:
    task_id, _ = self_care_case(world)
    task = world.get(TOLVAN, f"Task/{task_id}").json()
    task.update(status="ready", businessStatus={"coding": [{**task["businessStatus"]["coding"][0], "code": "waiting"}]})
    with pytest.raises(Conflict, match=r"use Task/\[id\]/\$request-contact"):
        world.hub.fhir.handle(FhirRequest("PUT", f"Task/{task_id}", body=task, caller=HubItself()))
    assert task_id not in waiting_ids(world)


def test_request_contact__is_listed_in_the_capability_statement(world: WorkflowHub) -> None:
    caps = world.client.get("/fhir/metadata").json()
    task = next(r for r in caps["rest"][0]["resource"] if r["type"] == "Task")
    assert "request-contact" in {o["name"] for o in task.get("operation", [])}


@pytest.fixture
def closed_world(database_url: str, tmp_path: Path) -> Iterator[WorkflowHub]:
    """The demo regions with every unit closed, and Norr referring every case to 1177 when closed."""
    for source in REGIONS_DIR.glob("*.yaml"):
        text = re.sub(r"    hours:\n(      \w+: .*\n)+", "    hours: {}\n", source.read_text("utf-8"))
        (tmp_path / source.name).write_text(text.replace("urgent_only: true", "urgent_only: false"), "utf-8")
    app = create_app(hub_settings(database_url, access_control=True, demo_data=True, regions_dir=str(tmp_path)))
    with TestClient(app, base_url="http://hub.test") as client:
        yield WorkflowHub(client)


def test_request_contact__when_the_region_refers_to_1177_it_is_409_in_its_words(closed_world: WorkflowHub) -> None:
    task_id, encounter_id = self_care_case(closed_world)
    r = ask(closed_world, TOLVAN, task_id)
    assert r.status_code == 409, r.text
    assert r.json()["issue"][0]["diagnostics"].startswith("cannot request contact: Mottagningen är stängd just nu.")
    task = closed_world.get(TOLVAN, f"Task/{task_id}").json()
    assert task["businessStatus"]["coding"][0]["code"] == "self-care-advice" and "owner" not in task
    assert closed_world.get(TOLVAN, f"Encounter/{encounter_id}").json()["status"] == "finished"
