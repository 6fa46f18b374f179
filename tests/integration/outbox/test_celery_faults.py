"""Celery workers on a real broker deliver every message through faults, none twice in effect.

Real processes throughout: PostgreSQL, a private RabbitMQ node or Redis server, `ingang worker`
processes, and an HTTP receiver that records each request's Idempotency-Key. The hub in the
test process writes Tasks that a Subscription selects; the workers deliver the notifications.
"Once in effect" is what a receiver that dedupes by key sees: every expected key answered 200
at least once, and no key that was not expected.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from fhir_api.messages import FhirRequest
from hub.app import Hub, build_hub
from hub.celery_app import close_producers
from hub.outbox.table import outbox_messages
from tests.conftest import IN_CI, _truncate, hub_settings
from tests.integration.outbox.conftest import Receiver, receiver, wait_for
from tests.integration.outbox.processes import RabbitBroker, RedisBroker, Worker

__all__ = ["receiver"]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE = 4.0


@pytest.fixture(scope="module", params=["rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[RabbitBroker | RedisBroker]:
    """A broker of each kind, private to this module's tests."""
    binary = "rabbitmq-server" if request.param == "rabbitmq" else "redis-server"
    if shutil.which(binary) is None:
        message = f"{binary} is not installed"
        if IN_CI:
            pytest.fail(f"{message}; CI must prove the workers on a real broker")
        pytest.skip(message)
    b: RabbitBroker | RedisBroker = RabbitBroker() if request.param == "rabbitmq" else RedisBroker()
    b.start()
    yield b
    b.stop()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    _truncate(pg_database)
    return pg_database


def _env(pg_url: str, broker_url: str) -> dict[str, str]:
    return {
        "INGANG_DATABASE_URL": pg_url, "INGANG_BROKER_URL": broker_url, "INGANG_OUTBOX_DISPATCHER": "celery",
        "INGANG_OUTBOX_LEASE_SECONDS": str(LEASE), "INGANG_OUTBOX_POLL_SECONDS": "0.5",
        "INGANG_OUTBOX_BACKOFF_BASE": "0.2", "INGANG_OUTBOX_BACKOFF_CAP": "1", "INGANG_OUTBOX_MAX_ATTEMPTS": "1000",
        "INGANG_SUBSCRIPTION_ERROR_AFTER": "1000", "INGANG_DEMO_DATA": "false", "INGANG_AUTO_MIGRATE": "false",
        "INGANG_ACCESS_CONTROL": "false", "INGANG_LOG_LEVEL": "warning",
    }


@pytest.fixture
def hub(pg_url: str, broker: RabbitBroker | RedisBroker) -> Iterator[Hub]:
    settings = hub_settings(pg_url, outbox_dispatcher="celery", broker_url=broker.url,
                            outbox_lease_seconds=LEASE)
    hub = build_hub(settings)
    yield hub
    close_producers()
    hub.engine.dispose()


@pytest.fixture
def workers(pg_url: str, broker: RabbitBroker | RedisBroker) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def _start_worker(workers: list[Worker], pg_url: str, broker: RabbitBroker | RedisBroker) -> Worker:
    w = Worker(_env(pg_url, broker.url))
    w.start()
    workers.append(w)
    return w


def _post(hub: Hub, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = hub.fhir.handle(FhirRequest.from_url("POST", path, body=body))
    assert resp.status == 201, resp.body
    result = resp.json()
    assert result is not None
    return result


def _subscribe(hub: Hub, rec: Receiver) -> str:
    sub = _post(hub, "Subscription", {
        "resourceType": "Subscription", "status": "requested", "reason": "EHR feed", "criteria": "Task?status=ready",
        "channel": {"type": "rest-hook", "endpoint": f"{rec.url}/hook", "payload": "application/fhir+json"}})
    sid = str(sub["id"])

    def active() -> bool:
        with hub.engine.connect() as conn:
            stored = hub.fhir.repo.read(conn, "Subscription", sid)
        return stored is not None and stored.json()["status"] == "active"

    wait_for("the handshake", active, timeout=60)
    return sid


def _tasks(hub: Hub, sid: str, n: int) -> set[str]:
    keys = set()
    for _ in range(n):
        task = _post(hub, "Task", {"resourceType": "Task", "status": "ready", "intent": "order"})
        keys.add(f"Subscription/{sid}/Task/{task['id']}/_history/1")
    return keys


def _statuses(hub: Hub) -> dict[str, str]:
    with hub.engine.connect() as conn:
        rows = conn.execute(select(outbox_messages.c.key, outbox_messages.c.status)
                            .where(outbox_messages.c.kind == "subscription-notification")).all()
    return {r.key: r.status for r in rows}


def _all_arrived(rec: Receiver, hub: Hub, keys: set[str]) -> None:
    wait_for("every notification to arrive", lambda: keys <= set(rec.delivered_keys()), timeout=120)
    wait_for("every row to be recorded delivered",
             lambda: all(s == "delivered" for k, s in _statuses(hub).items() if k in keys), timeout=60)
    seen = set(rec.delivered_keys())
    notifications = {k for k in seen if "/Task/" in k}
    assert notifications == keys, "a notification arrived that no change caused"


def test_celery__receiver_down_for_a_while_then_all_arrive(
        hub: Hub, receiver: Receiver, workers: list[Worker], pg_url: str,
        broker: RabbitBroker | RedisBroker) -> None:
    _start_worker(workers, pg_url, broker)
    _start_worker(workers, pg_url, broker)
    sid = _subscribe(hub, receiver)
    receiver.stop()
    keys = _tasks(hub, sid, 20)
    wait_for("failed attempts while the receiver is down",
             lambda: _attempts(hub) >= 20, timeout=60)
    receiver.start()
    _all_arrived(receiver, hub, keys)


def _attempts(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return int(sum(conn.execute(select(outbox_messages.c.attempts)
                                    .where(outbox_messages.c.kind == "subscription-notification")).scalars()))


def test_celery__worker_killed_mid_delivery_is_delivered_after_the_lease(
        hub: Hub, receiver: Receiver, workers: list[Worker], pg_url: str,
        broker: RabbitBroker | RedisBroker) -> None:
    first = _start_worker(workers, pg_url, broker)
    sid = _subscribe(hub, receiver)
    receiver.control(delay=30)  # hold each answer, so the worker is inside the call when it dies
    [key] = _tasks(hub, sid, 1)
    wait_for("the request to reach the receiver",
             lambda: [r for r in receiver.received() if r["key"] == key], timeout=60)
    first.kill()
    workers.remove(first)
    receiver.control(delay=0)
    assert _statuses(hub)[key] == "delivering"
    _start_worker(workers, pg_url, broker)
    _all_arrived(receiver, hub, {key})
    with hub.engine.connect() as conn:
        attempts = conn.execute(select(outbox_messages.c.attempts).where(outbox_messages.c.key == key)).scalar()
    assert attempts == 2


def test_celery__broker_restarted_nothing_is_lost(
        hub: Hub, receiver: Receiver, workers: list[Worker], pg_url: str,
        broker: RabbitBroker | RedisBroker) -> None:
    _start_worker(workers, pg_url, broker)
    sid = _subscribe(hub, receiver)
    receiver.control(delay=0.2)  # keep some deliveries queued in the broker when it goes
    keys = _tasks(hub, sid, 15)
    broker.restart(down_for=2.0)
    keys |= _tasks(hub, sid, 5)
    receiver.control(delay=0)
    _all_arrived(receiver, hub, keys)
