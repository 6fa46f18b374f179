"""A case moves to a unit of another hub: ended here, recreated there once, waiting in the unit's room."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cases.hub_transfer import ORIGIN_SYSTEM, transfer_bundle
from cases.principals import PERSONNUMMER_SYSTEM
from fhir_api.messages import FhirRequest
from fhir_api.outcomes import FhirError
from hub.case_queue import CaseQueue
from hub.outbox import GiveUp
from hub.transfer_peer import PeerClient
from tests.integration.journal.case_world import SeededCase, seed_case

from .two_hubs import A_BASE, TARGET_HSA, TwoHubs, two_hubs


@pytest.fixture
def hubs(database_url: str, sqlite_template: Path, tmp_path: Path) -> Iterator[TwoHubs]:
    yield from two_hubs(database_url, sqlite_template, tmp_path)


def params(**values: str) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": k, "valueString": v} for k, v in values.items()]}


def transfer_out(hubs: TwoHubs, case: SeededCase, **overrides: str) -> dict[str, Any]:
    values = {"hub": "syd", "unit": TARGET_HSA, "reason": "Patienten bor i Region Syd", **overrides}
    response = hubs.a.fhir.handle(FhirRequest("POST", f"Task/{case.task}/$transfer-out", body=params(**values)))
    body = response.json()
    assert body is not None
    return body


def with_photo(hubs: TwoHubs, case: SeededCase) -> str:
    """Keep the case's photo as a Binary the Media points at, as the photo upload does."""
    repo = hubs.a.fhir.repo
    with hubs.a.fhir.unit_of_work(True) as conn:
        binary = repo.create(conn, {"resourceType": "Binary", "contentType": "image/png", "data": "iVBORw0KGgo=",
                                    "securityContext": {"reference": f"Encounter/{case.encounter}"}})
        media = repo.read(conn, "Media", case.media)
        assert media is not None
        content = media.json()
        content["content"] = {"contentType": "image/png", "title": "Halsen", "url": f"Binary/{binary.res_id}"}
        repo.update(conn, media, content)
    return binary.res_id


def test_transfer_out__ends_the_case_here_with_a_provenance(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)

    task = transfer_out(hubs, case)

    assert task["status"] == "completed" and task["businessStatus"]["coding"][0]["code"] == "transferred-out"
    with hubs.a.fhir.unit_of_work(False) as conn:
        (prov_id,) = hubs.a.fhir.matcher.ids(conn, "Provenance", [("target", f"Task/{case.task}")])
        provenance = hubs.a.fhir.repo.read(conn, "Provenance", prov_id)
    assert provenance is not None
    record = provenance.json()
    assert record["reason"] == [{"text": "Patienten bor i Region Syd"}]
    assert record["agent"][-1]["who"]["identifier"]["value"] == TARGET_HSA


def test_transfer__puts_the_case_in_the_target_units_waiting_room_at_the_other_hub(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)
    binary = with_photo(hubs, case)
    transfer_out(hubs, case)

    (outcome,) = hubs.outbox.deliver_due()

    assert outcome.status == "delivered", outcome.detail
    (task_id,) = hubs.b_ids("Task", ("identifier", f"{ORIGIN_SYSTEM}|{A_BASE}/Task/{case.task}"))
    task = hubs.b_read(f"Task/{task_id}")
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("ready", "transferred")
    assert task["owner"] == {"reference": f"Organization/{hubs.target_unit}"}
    with hubs.b.fhir.unit_of_work(False) as conn:
        waiting = CaseQueue().waiting(conn, hubs.target_unit, None, 10)
    assert [row.task_id for row in waiting] == [task_id]
    encounter = hubs.b_read(task["encounter"]["reference"])
    assert encounter["status"] == "arrived"
    assert encounter["serviceProvider"] == {"reference": f"Organization/{hubs.target_unit}"}
    assert hubs.b_read(task["focus"]["reference"])["item"][0]["text"] == "Har du feber?"
    (patient_id,) = hubs.b_ids("Patient", ("identifier", f"{PERSONNUMMER_SYSTEM}|191212121212"))
    assert task["for"] == {"reference": f"Patient/{patient_id}"}
    chat = hubs.b_ids("Communication", ("encounter", task["encounter"]["reference"]))
    assert len(chat) == 2
    senders = {hubs.b_read(f"Communication/{c}")["sender"].get("display") for c in chat}
    assert "Sara Sjöberg, sjuksköterska" in senders
    (media_id,) = hubs.b_ids("Media", ("encounter", task["encounter"]["reference"]))
    photo = hubs.b_read(hubs.b_read(f"Media/{media_id}")["content"]["url"])
    assert photo["data"] == "iVBORw0KGgo=" and binary not in photo["id"]
    assert hubs.b_ids("Provenance", ("target", f"Task/{task_id}"))
    assert hubs.b_ids("AuditEvent", ("patient", f"Patient/{patient_id}"), ("altid", "hub-a"))
    with hubs.a.fhir.unit_of_work(False) as conn:
        sent = hubs.a.fhir.repo.read(conn, "Task", case.task)
    assert sent is not None
    assert sent.json()["output"][-1]["valueReference"]["reference"] == f"http://hub-b.test/fhir/Task/{task_id}"


def test_transfer__a_peer_that_is_down_is_retried_and_the_case_arrives_once(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)
    transfer_out(hubs, case)
    real = hubs.transfers.clients["syd"]

    def down(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    hubs.transfers.clients["syd"] = PeerClient(real.peer, http=httpx.Client(transport=httpx.MockTransport(down)))
    first = hubs.outbox.deliver_due()
    hubs.transfers.clients["syd"].close()
    hubs.transfers.clients["syd"] = real
    second = hubs.outbox.deliver_due()

    assert [o.status for o in first] == ["retry"] and "could not be reached" in first[0].detail
    assert [o.status for o in second] == ["delivered"]
    assert len(hubs.b_ids("Task", ("identifier", f"{ORIGIN_SYSTEM}|{A_BASE}/Task/{case.task}"))) == 1


def test_transfer__the_same_transaction_posted_again_creates_nothing_new(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)
    transfer_out(hubs, case)
    with hubs.a.fhir.unit_of_work(False) as conn:
        current = hubs.a.fhir.repo.read(conn, "Task", case.task)
        assert current is not None
        bundle = transfer_bundle(hubs.transfers.read_case(conn, current.json()), sender_base=A_BASE,
                                 sender_name="Region Norr")
    client = hubs.transfers.clients["syd"]

    first = client.send(hubs.target_unit, bundle)
    again = client.send(hubs.target_unit, bundle)

    assert {e["response"]["status"] for e in first["entry"]} == {"201 Created"}
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    assert [e["response"]["location"] for e in again["entry"]] == [e["response"]["location"] for e in first["entry"]]
    assert len(hubs.b_ids("Communication", ("identifier", f"{ORIGIN_SYSTEM}|{A_BASE}/Communication/{case.communications[0]}"))) == 1
    assert len(hubs.b_ids("Provenance", ("target", first["entry"][2]["response"]["location"].split("/_history")[0]))) == 1


def test_receive__refuses_an_anonymous_caller(hubs: TwoHubs) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    answer = hubs.b_client.post(f"/fhir/Organization/{hubs.target_unit}/$receive-transfer", json=bundle)

    assert answer.status_code == 401


def test_receive__refuses_a_bundle_that_is_not_conditional_creates(hubs: TwoHubs) -> None:
    client = hubs.transfers.clients["syd"]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:2b7f0c52-3a59-4a53-9d42-16a3f8f0e0a1", "resource": {"resourceType": "Task"},
         "request": {"method": "POST", "url": "Task"}}]}

    with pytest.raises(GiveUp, match="conditional create"):
        client.send(hubs.target_unit, bundle)


def test_transfer_out__to_a_hub_that_is_not_configured_is_a_bad_request(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)

    with pytest.raises(FhirError, match="not a peer hub") as refused:
        transfer_out(hubs, case, hub="nowhere")
    assert refused.value.status == 400


def test_transfer_out__a_case_already_transferred_is_a_conflict(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)
    transfer_out(hubs, case)

    with pytest.raises(FhirError, match="cannot transfer to another hub") as refused:
        transfer_out(hubs, case)
    assert refused.value.status == 409


def test_transfer__a_patient_the_other_hub_already_knows_is_not_made_twice(hubs: TwoHubs) -> None:
    with hubs.b.fhir.unit_of_work(True) as conn:
        known = hubs.b.fhir.repo.create(conn, {
            "resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": "191212121212"}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}]}).res_id
    case = seed_case(hubs.a.fhir)
    transfer_out(hubs, case)

    (outcome,) = hubs.outbox.deliver_due()

    assert outcome.status == "delivered", outcome.detail
    assert hubs.b_ids("Patient", ("identifier", f"{PERSONNUMMER_SYSTEM}|191212121212")) == [known]
    (task_id,) = hubs.b_ids("Task", ("identifier", f"{ORIGIN_SYSTEM}|{A_BASE}/Task/{case.task}"))
    assert hubs.b_read(f"Task/{task_id}")["for"] == {"reference": f"Patient/{known}"}


def test_transfer__to_a_unit_the_other_hub_does_not_know_goes_to_dead_letters_saying_so(hubs: TwoHubs) -> None:
    case = seed_case(hubs.a.fhir)
    transfer_out(hubs, case, unit="SE2321000000-NOPE")

    (outcome,) = hubs.outbox.deliver_due()

    assert outcome.status == "dead" and "knows no care unit with HSA-id SE2321000000-NOPE" in outcome.detail
    assert hubs.b_ids("Task", ("identifier", f"{ORIGIN_SYSTEM}|{A_BASE}/Task/{case.task}")) == []
