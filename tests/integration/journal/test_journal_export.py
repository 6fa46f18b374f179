"""Closing a case exports its journal note through the outbox: once, retried after an outage, confirmed on the case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.vis.fake import InMemoryJournal
from hub.app import Hub, build_hub
from hub.journal_config import units_by_region
from hub.journal_wiring import KIND, JournalExporter
from hub.outbox import Outbox, RetryLater, RetryPolicy
from hub.triage_wiring import REGIONS_DIR
from tests.conftest import hub_settings

from .case_world import SeededCase, close_case, seed_case


@dataclass
class World:
    """A hub, its outbox with no delay between retries, and the region's (fake) journal."""

    hub: Hub
    outbox: Outbox
    journal: InMemoryJournal
    exporter: JournalExporter


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    hub = build_hub(hub_settings(database_url, outbox_dispatcher="off", base_url="https://hub.example/fhir"))
    journal = InMemoryJournal("norr")
    exporter = JournalExporter(hub.fhir, {"norr": journal}, units_by_region(REGIONS_DIR), None,
                               "https://hub.example/fhir")
    outbox = Outbox(hub.engine, RetryPolicy(backoff_base=0.0))
    outbox.register(KIND, exporter.handle)  # the hub's own listener enqueues; this outbox delivers
    yield World(hub, outbox, journal, exporter)
    hub.engine.dispose()


def task_json(world: World, case: SeededCase) -> dict:
    with world.hub.fhir.unit_of_work(False) as conn:
        stored = world.hub.fhir.repo.read(conn, "Task", case.task)
        assert stored is not None
        return stored.json()


def confirmations(world: World, case: SeededCase) -> list[dict]:
    return [o for o in task_json(world, case).get("output", [])
            if o["type"]["coding"][0]["code"] == "journal-export"]


def test_close__delivers_one_note_and_confirms_it_on_the_case(world: World) -> None:
    case = seed_case(world.hub.fhir)
    version = close_case(world.hub.fhir, case.task)

    outcomes = world.outbox.deliver_due()

    assert [o.status for o in outcomes] == ["delivered"]
    assert world.journal.filed() == 1
    (document,) = world.journal.documents.values()
    assert document["identifier"]["value"] == f"Task-{case.task}-{version}"
    (confirmed,) = confirmations(world, case)
    receipt = world.journal.receipts[("https://ingang.example/fhir/NamingSystem/journal-note",
                                      f"Task-{case.task}-{version}")]
    with world.hub.fhir.unit_of_work(False) as conn:
        doc_ref = world.hub.fhir.repo.read(conn, "DocumentReference", confirmed["valueReference"]["reference"].split("/")[1])
    assert doc_ref is not None
    assert doc_ref.json()["identifier"][0]["value"] == receipt.remote_id
    assert doc_ref.json()["context"]["encounter"] == [{"reference": f"Encounter/{case.encounter}"}]


def test_close__note_holds_the_chat_photo_and_the_clinicians_text(world: World) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task, note="Halsfluss utesluten. Återkom vid försämring.")
    world.outbox.deliver_due()

    (document,) = world.journal.documents.values()
    types = [e["resource"]["resourceType"] for e in document["entry"]]
    assert types.count("Communication") == 2 and "Media" in types and types[0] == "Composition"
    composition = document["entry"][0]["resource"]
    divs = {s["title"]: s["text"]["div"] for s in composition["section"]}
    assert "Halsfluss utesluten." in divs["Vårdpersonalens anteckning"]
    assert "Sara Sjöberg, sjuksköterska" in divs["Chatt med patienten"]
    assert composition["custodian"]["reference"].endswith(f"Organization/{case.unit}")


def test_close__an_outage_is_retried_and_the_note_is_filed_once(world: World) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task)
    world.journal.fail_next(503)

    first = world.outbox.deliver_due()
    second = world.outbox.deliver_due()

    assert [o.status for o in first] == ["retry"] and [o.status for o in second] == ["delivered"]
    assert world.journal.filed() == 1 and len(confirmations(world, case)) == 1


def test_close__a_refusal_goes_to_dead_letters_with_the_journals_reason(world: World) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task)
    world.journal.fail_next(422, "Patienten saknas i journalen")

    (outcome,) = world.outbox.deliver_due()

    assert outcome.status == "dead" and "Patienten saknas i journalen" in outcome.detail
    assert world.journal.filed() == 0 and confirmations(world, case) == []


def test_close__a_retry_after_delivery_but_before_confirmation_files_nothing_new(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task)
    confirm = world.exporter.confirm

    def crash_once(*args: object) -> None:
        monkeypatch.setattr(world.exporter, "confirm", confirm)
        raise RetryLater("the worker stopped before it recorded the delivery")

    monkeypatch.setattr(world.exporter, "confirm", crash_once)
    first = world.outbox.deliver_due()
    second = world.outbox.deliver_due()

    assert [o.status for o in first] == ["retry"] and [o.status for o in second] == ["delivered"]
    assert world.journal.filed() == 1 and world.journal.attempts == 2
    assert len(confirmations(world, case)) == 1


def test_confirmation__does_not_enqueue_a_second_export(world: World) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task)
    world.outbox.deliver_due()

    assert world.outbox.deliver_due() == []
    assert len(confirmations(world, case)) == 1


def test_edit_of_an_open_case__enqueues_nothing(world: World) -> None:
    seed_case(world.hub.fhir)

    assert world.outbox.deliver_due() == []
    assert world.journal.filed() == 0


def test_close_operation__exports_the_note_with_the_clinicians_text(world: World) -> None:
    from fhir_api.messages import FhirRequest

    case = seed_case(world.hub.fhir)
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "outcome", "valueCode": "advice-given"},
        {"name": "note", "valueString": "Råd om vila och vätska. Hör av dig om febern stiger."}]}
    closed = world.hub.fhir.handle(FhirRequest("POST", f"Task/{case.task}/$close", body=body))
    assert closed.status == 200

    (outcome,) = world.outbox.deliver_due()

    assert outcome.status == "delivered", outcome.detail
    (document,) = world.journal.documents.values()
    divs = {s["title"]: s["text"]["div"] for s in document["entry"][0]["resource"]["section"]}
    assert "Råd om vila och vätska." in divs["Vårdpersonalens anteckning"]
    assert document["entry"][0]["resource"]["author"][0]["reference"].endswith(f"PractitionerRole/{case.role}")


def test_configured_region__the_note_goes_to_its_fhir_journal_over_http(database_url: str, tmp_path: Path) -> None:
    from tests.fixtures.fhir_receiver.harness import CLIENT_ID, CLIENT_SECRET, running_receiver

    with running_receiver() as receiver:
        journals = tmp_path / "journals.json"
        journals.write_text(json.dumps({"regions": {"norr": {
            "base_url": f"{receiver.base}/fhir", "token_url": f"{receiver.base}/token",
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "timeout_s": 5}}}))
        hub = build_hub(hub_settings(database_url, outbox_dispatcher="off", journals_file=str(journals),
                                     outbox_backoff_base=0.0))
        try:
            case = seed_case(hub.fhir)
            close_case(hub.fhir, case.task)
            receiver.control("fail", {"statuses": [502]})

            first, second = hub.outbox.deliver_due(), hub.outbox.deliver_due()

            assert [o.status for o in first] == ["retry"] and [o.status for o in second] == ["delivered"]
            assert receiver.control("stats")["filed"] == 1
        finally:
            hub.engine.dispose()


def test_retry__sends_the_very_same_document(world: World) -> None:
    case = seed_case(world.hub.fhir)
    close_case(world.hub.fhir, case.task)
    sent: list[dict] = []
    deliver = world.journal.deliver

    def keep(document: dict) -> object:
        sent.append(document)
        if len(sent) == 1:
            world.journal.fail_next(503)
        return deliver(document)

    world.journal.deliver = keep  # type: ignore[method-assign]
    world.outbox.deliver_due()
    world.outbox.deliver_due()

    assert len(sent) == 2 and sent[0] == sent[1]
