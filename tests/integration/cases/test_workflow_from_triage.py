"""The whole workflow from a citizen's triage: the case waits, is claimed, released, handed over and closed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cases.principals import Guardian
from hub.app import create_app
from hub.triage_wiring import REGIONS_DIR
from tests.conftest import hub_settings
from tests.integration.cases.workflow_world import ANDERS, ANNA, DIG1, ERIK, LILLY_PNR, TOLVAN, WorkflowHub
from triage.evaluation import Vignette, answer_questions

COUGH = Vignette("w-1", 68, "male", "complaint-cough",
                 {"cough": True, "fever": True, "highest-temperature": 38.9, "pain-worse-on-breathing-in": True,
                  "cough-with-phlegm": True, "phlegm-colour": "brown-or-rust", "tiredness": True},
                 "urgent", "4-level")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[WorkflowHub]:
    """The demo regions with every unit open around the clock, so the case reaches a waiting room at any hour."""
    for source in REGIONS_DIR.glob("*.yaml"):
        text = re.sub(r"    hours:\n(      \w+: .*\n)+", "    always_open: true\n", source.read_text("utf-8"))
        (tmp_path / source.name).write_text(text, "utf-8")
    app = create_app(hub_settings(database_url, access_control=True, demo_data=True, regions_dir=str(tmp_path)))
    with TestClient(app, base_url="http://hub.test") as client:
        yield WorkflowHub(client)


def triage(world: WorkflowHub) -> dict[str, Any]:
    return triage_as(world, TOLVAN, TOLVAN.person_id)


def test_workflow__triage_to_waiting_room_to_claim_release_handover_close(world: WorkflowHub) -> None:
    done = triage(world)
    encounter_id = done["encounter"]["reference"].split("/")[1]
    unit = world.id_of("Organization", DIG1)
    room = world.get(ANNA, f"Organization/{unit}/$waiting-room").json()
    [entry] = [e for e in room["entry"] if e["search"]["mode"] == "match"]
    task = entry["resource"]
    assert task["encounter"]["reference"] == f"Encounter/{encounter_id}"
    assert task["status"] == "ready" and task["priority"] in {"urgent", "asap"}
    task_id = task["id"]
    position = {p["name"]: p for p in world.get(TOLVAN, f"Task/{task_id}/$queue-position").json()["parameter"]}
    assert position["position"]["valueInteger"] == 1

    assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    assert world.op(ANNA, f"Task/{task_id}/$release").status_code == 200
    claimed = world.op(ERIK, f"Task/{task_id}/$claim")
    assert claimed.status_code == 200
    anna_role = f"PractitionerRole/{world.id_of('PractitionerRole', ANNA.commission.commission_hsa_id)}"
    assert world.op(ERIK, f"Task/{task_id}/$handover", practitioner_role={"reference": anna_role}).status_code == 200
    closed = world.op(ANNA, f"Task/{task_id}/$close", outcome="treated", note="Pneumoni misstänkt, antibiotika.")
    assert closed.status_code == 200, closed.text
    assert closed.json()["businessStatus"]["coding"][0]["code"] == "closed"
    assert world.get(TOLVAN, f"Encounter/{encounter_id}").json()["status"] == "finished"
    history = world.get(ANNA, f"Task/{task_id}/_history").json()
    versions = [e["resource"] for e in reversed(history["entry"])]
    codes = [v["businessStatus"]["coding"][0]["code"] for v in versions]
    assert codes[:6] == ["waiting", "in-progress", "waiting", "in-progress", "in-progress", "closed"]
    # The in-process worker may already have delivered the journal note, which it records on the
    # closed Task as one more version; nothing else may follow the close.
    for later in versions[6:]:
        outputs = {o["type"]["coding"][0]["code"] for o in later["output"]}
        assert later["businessStatus"]["coding"][0]["code"] == "closed" and "journal-export" in outputs


def triage_as(world: WorkflowHub, who: Any, pnr: str) -> dict[str, Any]:
    patient = f"Patient/{world.id_of('Patient', pnr)}"
    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress",
                                "subject": {"reference": patient}}
    for _ in range(60):
        r = world.client.post("/fhir/Questionnaire/$next-question", headers=world.headers(who), json=response)
        assert r.status_code == 200, r.text
        response = r.json()
        if response["status"] == "completed":
            return response
        response, _ = answer_questions(response, COUGH)
    raise AssertionError("triage did not complete")


def waiting_entry(world: WorkflowHub, encounter_ref: str) -> dict[str, Any]:
    unit = world.id_of("Organization", DIG1)
    room = world.get(ANNA, f"Organization/{unit}/$waiting-room").json()
    [entry] = [e for e in room["entry"] if e["search"]["mode"] == "match"
               and e["resource"]["encounter"]["reference"] == encounter_ref]
    return entry


def extension(entry: dict[str, Any], name: str) -> Any:
    return next((x["valueReference"]["reference"] for x in entry["extension"] if x["url"].endswith(f"/{name}")), None)


def test_intake__guardian_is_the_author_and_the_waiting_room_shows_who_waits_for_whom(world: WorkflowHub) -> None:
    guardian = Guardian(ANDERS, LILLY_PNR)
    lilly = f"Patient/{world.id_of('Patient', LILLY_PNR)}"
    done = triage_as(world, guardian, LILLY_PNR)
    author = done["author"]["reference"]
    assert author.startswith("RelatedPerson/")
    person = world.get(ANNA, author)
    assert person.status_code == 200, person.text
    body = person.json()
    assert body["patient"]["reference"] == lilly
    assert body["relationship"][0]["coding"][0]["code"] == "GUARD"
    assert body["identifier"][0]["value"] == ANDERS.person_id
    entry = waiting_entry(world, done["encounter"]["reference"])
    assert entry["resource"]["requester"]["reference"] == author
    assert extension(entry, "waiting-person") == author
    assert extension(entry, "waiting-for") == lilly

    again = triage_as(world, guardian, LILLY_PNR)  # the same guardian is the same RelatedPerson
    assert again["author"]["reference"] == author
    assert again["encounter"]["reference"] != done["encounter"]["reference"]


def test_intake__citizen_answering_for_themselves_is_the_author(world: WorkflowHub) -> None:
    tolvan = f"Patient/{world.id_of('Patient', TOLVAN.person_id)}"
    forged = {"resourceType": "QuestionnaireResponse", "status": "in-progress", "subject": {"reference": tolvan},
              "author": {"reference": "RelatedPerson/someone-else"}}
    r = world.client.post("/fhir/Questionnaire/$next-question", headers=world.headers(TOLVAN), json=forged)
    assert r.status_code == 200, r.text
    assert r.json()["author"] == {"reference": tolvan}  # who is logged in answers, whatever the body says
    done = triage_as(world, TOLVAN, TOLVAN.person_id)
    assert done["author"] == {"reference": tolvan}
    entry = waiting_entry(world, done["encounter"]["reference"])
    assert entry["resource"]["requester"]["reference"] == tolvan
    assert extension(entry, "waiting-person") is None
