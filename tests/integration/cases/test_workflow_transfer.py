"""Transferring a case within the hub: the new unit sees it waiting at once, the old one no longer does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.cases.workflow_world import (
    ANNA,
    DIG1,
    ERIK_VC01,
    MARIA,
    TOLVAN,
    VC01,
    WorkflowHub,
    workflow_hub,
)


@pytest.fixture
def world(database_url: str) -> Iterator[WorkflowHub]:
    yield from workflow_hub(database_url)


def test_transfer__new_unit_sees_it_waiting_and_old_unit_does_not(world: WorkflowHub) -> None:
    task_id, encounter_id = world.open_case()
    vc01 = world.id_of("Organization", VC01)
    assert world.op(ANNA, f"Task/{task_id}/$claim").status_code == 200
    r = world.op(ANNA, f"Task/{task_id}/$transfer", unit={"system": "urn:oid:1.2.752.29.4.19", "value": VC01},
                 competence="doctor", reason="Behöver läkarbedömning på vårdcentral")
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "ready" and task["businessStatus"]["coding"][0]["code"] == "transferred"
    assert task["owner"]["reference"] == f"Organization/{vc01}"
    assert task["performerType"][0]["coding"][0]["code"] == "doctor"

    # The new unit: the Task, the Encounter and the Provenance, and the case in its waiting room.
    assert world.get(ERIK_VC01, f"Task/{task_id}").status_code == 200
    encounter = world.get(ERIK_VC01, f"Encounter/{encounter_id}").json()
    assert encounter["status"] == "arrived" and encounter["serviceProvider"]["reference"] == f"Organization/{vc01}"
    provenances = world.get(ERIK_VC01, f"Provenance?target=Task/{task_id}").json()
    [provenance] = [e["resource"] for e in provenances["entry"]]
    assert provenance["activity"]["coding"][0]["code"] == "transfer"
    assert provenance["reason"][0]["text"] == "Behöver läkarbedömning på vårdcentral"
    agents = {a["type"]["coding"][0]["code"]: a["who"].get("reference") for a in provenance["agent"]}
    assert agents["transfer-from"] == f"Organization/{world.id_of('Organization', DIG1)}"
    assert agents["transfer-to"] == f"Organization/{vc01}"
    assert agents["performer"].startswith("PractitionerRole/")
    room = world.get(ERIK_VC01, f"Organization/{vc01}/$waiting-room").json()
    assert [e["resource"]["id"] for e in room["entry"] if e["search"]["mode"] == "match"] == [task_id]
    assert world.op(ERIK_VC01, f"Task/{task_id}/$claim").status_code == 200

    # The old unit sees none of it any more.
    assert world.get(ANNA, f"Task/{task_id}").status_code == 404
    assert world.get(ANNA, f"Encounter/{encounter_id}").status_code == 404
    assert world.get(ANNA, f"Provenance/{provenance['id']}").status_code == 404
    assert world.op(ANNA, f"Task/{task_id}/$release").status_code == 404
    room = world.get(ANNA, f"Organization/{world.id_of('Organization', DIG1)}/$waiting-room").json()
    assert room["total"] == 0


def test_transfer__needs_a_reason_and_a_known_unit(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    vc01 = world.id_of("Organization", VC01)
    r = world.op(ANNA, f"Task/{task_id}/$transfer", unit={"reference": f"Organization/{vc01}"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Parameters.parameter.reason"]
    r = world.op(ANNA, f"Task/{task_id}/$transfer", unit="SE2321000000-NONE", reason="x")
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Parameters.parameter.unit"]
    r = world.op(ANNA, f"Task/{task_id}/$transfer", unit=VC01, reason="x", competence="astrologer")
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Parameters.parameter.competence"]


def test_transfer__a_closed_case_cannot_move(world: WorkflowHub) -> None:
    task_id, _ = world.open_case()
    assert world.op(TOLVAN, f"Task/{task_id}/$withdraw").status_code == 200
    r = world.op(ANNA, f"Task/{task_id}/$transfer", unit=VC01, reason="x")
    assert r.status_code == 409 and r.json()["issue"][0]["diagnostics"] == "cannot transfer: the case is withdrawn"


def test_transfer__the_citizen_still_sees_their_case(world: WorkflowHub) -> None:
    task_id, _encounter_id = world.open_case()
    assert world.op(ANNA, f"Task/{task_id}/$transfer", unit=VC01, reason="Närmare hemmet").status_code == 200
    assert world.get(TOLVAN, f"Task/{task_id}").status_code == 200
    assert world.get(MARIA, f"Task/{task_id}").status_code == 404
    r = world.get(TOLVAN, f"Task/{task_id}/$queue-position").json()
    values = {p["name"]: p for p in r["parameter"]}
    assert values["state"]["valueCode"] == "transferred" and values["position"]["valueInteger"] == 1
