"""Subscriptions deliver through the outbox to a real HTTP receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.outbox import store
from hub.subscriptions.spec import SIGNATURE_SECRET_URL
from tests.conftest import hub_settings
from tests.integration.outbox.conftest import Receiver, receiver, wait_for

__all__ = ["receiver"]

UNIT = "Organization/unit-1"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = hub_settings(database_url, outbox_poll_seconds=0.1, outbox_backoff_base=0.05,
                            outbox_backoff_cap=0.2, outbox_max_attempts=50, subscription_error_after=2)
    with TestClient(create_app(settings)) as client:
        yield client


def _subscribe(client: TestClient, rec: Receiver, criteria: str = f"Task?status=ready&owner={UNIT}",
               **channel: Any) -> str:
    body = {"resourceType": "Subscription", "status": "requested", "reason": "waiting room feed",
            "criteria": criteria,
            "channel": {"type": "rest-hook", "endpoint": f"{rec.url}/hook", "payload": "application/fhir+json",
                        **channel}}
    resp = client.post("/fhir/Subscription", json=body)
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["id"]
    return sid


def _status(client: TestClient, sid: str) -> str:
    status: str = client.get(f"/fhir/Subscription/{sid}").json()["status"]
    return status


def _task(client: TestClient, status: str = "ready", owner: str = UNIT) -> dict[str, Any]:
    resp = client.post("/fhir/Task", json={"resourceType": "Task", "status": status, "intent": "order",
                                           "owner": {"reference": owner}})
    assert resp.status_code == 201, resp.text
    task: dict[str, Any] = resp.json()
    return task


def _hook_requests(rec: Receiver) -> list[dict[str, Any]]:
    return [r for r in rec.received() if r["path"].startswith("/hook")]


def test_subscription__handshake_makes_it_active_and_a_matching_task_is_put_in_full(
        client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    wait_for("the subscription to become active", lambda: _status(client, sid) == "active")
    task = _task(client)
    _task(client, status="draft")
    _task(client, owner="Organization/other-unit")
    [put] = wait_for("the notification", lambda: [r for r in _hook_requests(receiver) if r["method"] == "PUT"])
    assert put["path"] == f"/hook/Task/{task['id']}"
    assert put["key"] == f"Subscription/{sid}/Task/{task['id']}/_history/1"
    assert put["content_type"] == "application/fhir+json"
    assert '"status":"ready"' in put["body"].replace(" ", "")
    handshakes = [r for r in _hook_requests(receiver) if r["method"] == "POST"]
    assert len(handshakes) == 1 and handshakes[0]["body"] == ""


def test_subscription__without_payload_posts_an_empty_body_with_the_subscribers_header(
        client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver, payload=None, header=["Authorization: Bearer for-the-ehr"])
    wait_for("active", lambda: _status(client, sid) == "active")
    task = _task(client)
    key = f"Subscription/{sid}/Task/{task['id']}/_history/1"
    [note] = wait_for("the notification", lambda: [r for r in _hook_requests(receiver) if r["key"] == key])
    assert (note["method"], note["body"], note["authorization"]) == ("POST", "", "Bearer for-the-ehr")


def test_subscription__with_a_secret_signs_each_request(client: TestClient, receiver: Receiver) -> None:
    secret = "s3cret-of-the-subscriber"
    body = {"resourceType": "Subscription", "status": "requested", "reason": "signed",
            "criteria": "Task?status=ready",
            "extension": [{"url": SIGNATURE_SECRET_URL, "valueString": secret}],
            "channel": {"type": "rest-hook", "endpoint": f"{receiver.url}/hook", "payload": "application/fhir+json"}}
    sid = client.post("/fhir/Subscription", json=body).json()["id"]
    wait_for("active", lambda: _status(client, sid) == "active")
    task = _task(client)
    [put] = wait_for("the notification", lambda: [r for r in _hook_requests(receiver) if r["method"] == "PUT"])
    stamp, mac = (part.split("=", 1)[1] for part in put["signature"].split(", "))
    expected = hmac.new(secret.encode(), f"{stamp}.{put['key']}.".encode() + put["body"].encode(),
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert put["path"].endswith(task["id"])


@pytest.mark.parametrize(("change", "where"), [
    ({"criteria": "Patient?name=x"}, "Subscription.criteria"),
    ({"criteria": "Task?no-such-param=1"}, "Subscription.criteria"),
    ({"channel": {"type": "email", "endpoint": "mailto:a@b.se"}}, "Subscription.channel.type"),
    ({"channel": {"type": "rest-hook", "endpoint": "ftp://x"}}, "Subscription.channel.endpoint"),
    ({"channel": {"type": "rest-hook", "endpoint": "http://x", "payload": "application/fhir+xml"}},
     "Subscription.channel.payload"),
    ({"channel": {"type": "rest-hook", "endpoint": "http://x", "header": ["no colon"]}},
     "Subscription.channel.header[0]"),
])
def test_subscription__the_hub_cannot_honour_is_refused_and_not_stored(
        client: TestClient, change: dict[str, Any], where: str) -> None:
    body = {"resourceType": "Subscription", "status": "requested", "reason": "x", "criteria": "Task?status=ready",
            "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook"}, **change}
    resp = client.post("/fhir/Subscription", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["issue"][0]["expression"] == [where]
    assert client.get("/fhir/Subscription").json()["total"] == 0


def test_subscription__failing_endpoint_turns_error_then_active_when_it_recovers(
        client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    wait_for("active", lambda: _status(client, sid) == "active")
    receiver.control(fail=3, status=503)
    task = _task(client)
    wait_for("error", lambda: _status(client, sid) == "error")
    assert "503" in client.get(f"/fhir/Subscription/{sid}").json()["error"]
    key = f"Subscription/{sid}/Task/{task['id']}/_history/1"
    wait_for("the delivery", lambda: key in receiver.delivered_keys())
    wait_for("active again", lambda: _status(client, sid) == "active")
    assert [r["answered"] for r in _hook_requests(receiver) if r["key"] == key] == [503, 503, 503, 200]


def test_replay__sends_the_period_again_with_the_same_keys(client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    wait_for("active", lambda: _status(client, sid) == "active")
    tasks = [_task(client)["id"] for _ in range(3)]
    keys = {f"Subscription/{sid}/Task/{t}/_history/1" for t in tasks}
    wait_for("three deliveries", lambda: keys <= set(receiver.delivered_keys()))
    resp = client.post(f"/fhir/Subscription/{sid}/$replay?since=2000-01-01T00:00:00Z")
    assert resp.status_code == 200, resp.text
    assert resp.json()["parameter"] == [{"name": "replayed", "valueInteger": 3}]
    wait_for("the replay", lambda: sorted(receiver.delivered_keys()).count(min(keys)) == 2)
    wait_for("all replayed", lambda: all(receiver.delivered_keys().count(k) == 2 for k in keys))
    future = client.post(f"/fhir/Subscription/{sid}/$replay?since=2999-01-01T00:00:00Z")
    assert future.json()["parameter"] == [{"name": "replayed", "valueInteger": 0}]


def test_replay__bad_since_is_a_clear_error(client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    resp = client.post(f"/fhir/Subscription/{sid}/$replay?since=yesterday")
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["expression"] == ["since"]


def test_subscription__switched_off_gets_nothing_more(client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    wait_for("active", lambda: _status(client, sid) == "active")
    before = _task(client)
    current = client.get(f"/fhir/Subscription/{sid}").json()
    assert client.put(f"/fhir/Subscription/{sid}", json={**current, "status": "off"}).status_code == 200
    after = _task(client)
    engine = client.app.state.hub.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        keys = [r.key for r in store.find(conn, kind="subscription-notification")]
    assert keys == [f"Subscription/{sid}/Task/{before['id']}/_history/1"]
    assert after["id"] not in "".join(keys)


def test_notification__older_version_is_skipped_once_a_newer_one_matched(
        client: TestClient, receiver: Receiver) -> None:
    sid = _subscribe(client, receiver)
    wait_for("active", lambda: _status(client, sid) == "active")
    receiver.control(fail=1000, status=503)
    task = _task(client)
    first = f"Subscription/{sid}/Task/{task['id']}/_history/1"
    wait_for("a failed attempt at version 1", lambda: [r for r in _hook_requests(receiver) if r["key"] == first])
    updated = client.put(f"/fhir/Task/{task['id']}", json={**task, "description": "triaged again"})
    assert updated.status_code == 200, updated.text
    receiver.control(fail=0)
    second = f"Subscription/{sid}/Task/{task['id']}/_history/2"
    wait_for("version 2", lambda: second in receiver.delivered_keys())
    engine = client.app.state.hub.engine  # type: ignore[attr-defined]

    def v1_settled() -> str | None:
        with engine.connect() as conn:
            [row] = store.find(conn, key_prefix=first)
        return row.receipt if row.status == "delivered" else None

    assert wait_for("version 1 to be settled", v1_settled) == "skipped: superseded by version 2"
    assert first not in receiver.delivered_keys()


def test_handshake__refused_by_the_endpoint_is_dead_and_the_subscription_in_error(
        client: TestClient, receiver: Receiver) -> None:
    receiver.control(fail=1, status=404)
    sid = _subscribe(client, receiver)
    wait_for("error", lambda: _status(client, sid) == "error")
    assert "HTTP 404" in client.get(f"/fhir/Subscription/{sid}").json()["error"]
    engine = client.app.state.hub.engine  # type: ignore[attr-defined]

    def dead_handshake() -> Any:
        with engine.connect() as conn:
            [row] = store.find(conn, kind="subscription-handshake")
        return row if row.status == "dead" else None

    row = wait_for("the handshake to be dead", dead_handshake)
    assert row.attempts == 1 and row.last_error.startswith("gave up: HTTP 404")
