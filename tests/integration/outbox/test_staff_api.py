"""Operators list and replay outbox messages with a hub token; monitoring reads /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.idp.tokens import Scopes
from cases.principals import Citizen, RegionalSystem
from hub.app import create_app
from hub.outbox import GiveUp, OutboxMessage, enqueue
from tests.conftest import hub_settings
from tests.integration.outbox.conftest import wait_for


@pytest.fixture
def app_client(database_url: str) -> Iterator[TestClient]:
    settings = hub_settings(database_url, access_control=True, outbox_operators="ops, backup-ops",
                            outbox_poll_seconds=0.05, outbox_max_attempts=1)
    app = create_app(settings)
    attempts: list[str] = []

    def reject_first(msg: OutboxMessage) -> str:
        attempts.append(msg.key)
        if attempts.count(msg.key) == 1:
            raise GiveUp("400 from the region: missing field")
        return "remote-7"

    app.state.hub.outbox.register("test-export", reject_first)
    with TestClient(app, base_url="http://hub.test") as client:
        yield client


def bearer(client: TestClient, principal: Any, client_id: str) -> dict[str, str]:
    tokens = client.app.state.auth.tokens  # type: ignore[attr-defined]
    issued = tokens.issue(principal, Scopes.parse("system/*.rs"), client_id=client_id, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.token}"}


def _enqueue(client: TestClient, key: str) -> None:
    with client.app.state.hub.engine.begin() as conn:  # type: ignore[attr-defined]
        enqueue(conn, kind="test-export", key=key, payload={"note": key})
    client.app.state.hub.outbox.wake_committed()  # type: ignore[attr-defined]


def test_outbox_api__operator_sees_a_dead_message_and_replays_it(app_client: TestClient) -> None:
    ops = bearer(app_client, RegionalSystem("ops", "norr"), "ops")
    _enqueue(app_client, "note-1")

    def dead() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = app_client.get("/api/outbox?status=dead", headers=ops).json()["messages"]
        return listed

    [message] = wait_for("a dead message", dead)
    assert (message["key"], message["attempts"], message["payload"]) == ("note-1", 1, {"note": "note-1"})
    assert "missing field" in message["lastError"]
    resp = app_client.post(f"/api/outbox/{message['id']}/replay", headers=ops)
    assert resp.status_code == 200 and resp.json()["status"] in ("queued", "delivering", "delivered")

    def delivered() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = app_client.get("/api/outbox?status=delivered", headers=ops).json()["messages"]
        return listed

    [done] = wait_for("the replayed delivery", delivered)
    assert (done["id"], done["receipt"]) == (message["id"], "remote-7")


@pytest.mark.parametrize(("principal", "client_id", "status"), [
    (None, "", 401),
    (RegionalSystem("ehr", "norr"), "ehr", 403),
    (Citizen("191212121212", "Tolvan", "Tolvansson"), "ops", 403),
])
def test_outbox_api__is_closed_to_everyone_but_operator_clients(
        app_client: TestClient, principal: Any, client_id: str, status: int) -> None:
    headers = bearer(app_client, principal, client_id) if principal else {}
    assert app_client.get("/api/outbox", headers=headers).status_code == status
    resp = app_client.post("/api/outbox/1/replay", headers=headers)
    assert resp.status_code == status
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_outbox_api__bad_status_and_unknown_id_are_clear_errors(app_client: TestClient) -> None:
    ops = bearer(app_client, RegionalSystem("backup-ops", "syd"), "backup-ops")
    bad = app_client.get("/api/outbox?status=lost", headers=ops)
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["status"]
    assert app_client.post("/api/outbox/999/replay", headers=ops).status_code == 404
    assert app_client.post("/api/outbox/abc/replay", headers=ops).status_code == 400


def test_outbox_api__pages_with_after(app_client: TestClient) -> None:
    ops = bearer(app_client, RegionalSystem("ops", "norr"), "ops")
    with app_client.app.state.hub.engine.begin() as conn:  # type: ignore[attr-defined]
        for i in range(5):
            enqueue(conn, kind="unknown-kind", key=str(i), payload={})
    first = app_client.get("/api/outbox?kind=unknown-kind&_count=3", headers=ops).json()
    assert [m["key"] for m in first["messages"]] == ["0", "1", "2"]
    second = app_client.get(first["next"], headers=ops).json()
    assert [m["key"] for m in second["messages"]] == ["3", "4"] and "next" not in second


def test_metrics__report_counts_in_prometheus_text(app_client: TestClient) -> None:
    _enqueue(app_client, "note-2")
    with app_client.app.state.hub.engine.begin() as conn:  # type: ignore[attr-defined]
        enqueue(conn, kind="unknown-kind", key="waiting", payload={})

    def dead_line() -> str | None:
        text = app_client.get("/metrics").text
        return text if 'ingang_outbox_messages{status="dead"} 1' in text else None

    text = wait_for("the dead message in the metrics", dead_line)
    assert 'ingang_outbox_messages{status="queued"} 1' in text
    assert "ingang_outbox_failed_messages 1" in text
    assert "# TYPE ingang_outbox_oldest_queued_age_seconds gauge" in text
