"""The server tells listeners what a unit of work wrote: inside it, and once it is committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.testclient import TestClient

from fhir_api.changes import Change


def _server(client: TestClient) -> Any:
    return client.app.state.hub.fhir  # type: ignore[attr-defined]


PATIENT = {"resourceType": "Patient", "name": [{"family": "Lind"}]}


def test_write_listener__sees_the_create_inside_the_transaction(client: TestClient) -> None:
    seen: list[tuple[str, str, int]] = []
    _server(client).add_write_listener(
        lambda conn, changes: seen.extend((c.method, c.res_type, c.version) for c in changes))
    client.post("/fhir/Patient", json=PATIENT)
    assert seen == [("create", "Patient", 1)]


def test_write_listener__its_own_writes_are_in_the_same_commit_and_seen_next_round(client: TestClient) -> None:
    server = _server(client)
    rounds: list[list[str]] = []

    def add_flag(conn: Connection, changes: list[Change]) -> None:
        rounds.append([c.res_type for c in changes])
        if any(c.res_type == "Patient" for c in changes):
            server.repo.create(conn, {"resourceType": "Flag", "status": "active",
                                      "code": {"text": "seen"}, "subject": {"reference": changes[0].reference}})

    server.add_write_listener(add_flag)
    committed: list[list[str]] = []
    server.add_commit_listener(lambda changes: committed.append([c.res_type for c in changes]))
    client.post("/fhir/Patient", json=PATIENT)
    assert rounds == [["Patient"], ["Flag"]]
    assert committed == [["Patient", "Flag"]]
    assert client.get("/fhir/Flag").json()["total"] == 1


def test_write_listener__that_fails_rolls_the_whole_write_back(client: TestClient) -> None:
    def refuse(conn: Connection, changes: list[Change]) -> None:
        raise ValueError("outbox unavailable")

    server = _server(client)
    server.add_write_listener(refuse)
    committed: list[Change] = []
    server.add_commit_listener(committed.extend)
    resp = client.post("/fhir/Patient", json=PATIENT)
    assert resp.status_code == 500
    assert committed == []
    server.write_listeners.remove(refuse)
    assert client.get("/fhir/Patient").json()["total"] == 0


def test_commit_listener__that_fails_leaves_the_write_committed(client: TestClient) -> None:
    def broken(changes: list[Change]) -> None:
        raise RuntimeError("bus down")

    _server(client).add_commit_listener(broken)
    resp = client.post("/fhir/Patient", json=PATIENT)
    assert resp.status_code == 201
    assert client.get("/fhir/Patient").json()["total"] == 1


def test_commit_listener__hears_nothing_from_reads_or_failed_writes(client: TestClient) -> None:
    heard: list[Change] = []
    _server(client).add_commit_listener(heard.extend)
    client.get("/fhir/Patient")
    client.post("/fhir/Patient", json={"resourceType": "Patient", "birthDate": "yesterday"})
    assert heard == []


def test_commit_listener__hears_each_entry_of_a_transaction_once(client: TestClient) -> None:
    heard: list[list[str]] = []
    _server(client).add_commit_listener(lambda changes: heard.append([c.method for c in changes]))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c3b4c7e-9a8e-4f7e-a0b6-2f0e1a9d6c11", "resource": PATIENT,
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Flag", "status": "active", "code": {"text": "x"},
                      "subject": {"reference": "urn:uuid:0c3b4c7e-9a8e-4f7e-a0b6-2f0e1a9d6c11"}},
         "request": {"method": "POST", "url": "Flag"}},
    ]}
    assert client.post("/fhir", json=bundle).status_code == 200
    assert heard == [["create", "create"]]
