"""A database connection the server drops costs no request a 500, and no ping per request.

The pool hands connections out without a round trip to check them: one the server closed
while it sat idle is seen by its socket and replaced; one lost while in use fails its first
statement, after which a read runs once more and a write is a 503 the client may retry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event
from starlette.testclient import TestClient

from hub.app import create_app
from tests.conftest import _truncate, hub_settings

FHIR_JSON = {"Content-Type": "application/fhir+json"}

pytestmark = pytest.mark.postgres


@pytest.fixture
def client(pg_database: str) -> Iterator[TestClient]:
    _truncate(pg_database)
    app = create_app(hub_settings(pg_database))
    with TestClient(app, base_url="http://hub.test") as c:
        yield c


@pytest.fixture
def admin(pg_database: str) -> Iterator[Engine]:
    engine = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def hub_engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.hub.engine  # type: ignore[attr-defined]
    return engine


def terminate(admin: Engine, pids: list[int]) -> None:
    with admin.connect() as conn:
        for pid in pids:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    time.sleep(0.2)  # the server's goodbye reaches the socket


def idle_pids(engine: Engine) -> list[int]:
    """Check out and return every connection the pool holds, returning their server pids."""
    pids = []
    with engine.connect() as a, engine.connect() as b:
        for conn in (a, b):
            pids.append(int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
    return pids


def test_read__pings_nothing_and_begins_no_transaction_on_postgresql(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each of these was a round trip of its own: a ping, BEGIN, and ROLLBACK at the end.
    client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"}, headers=FHIR_JSON)
    engine = hub_engine(client)
    pings: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    in_transaction: list[bool] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, *_: in_transaction.append(not conn.connection.dbapi_connection.autocommit))

    assert client.get("/fhir/Patient/p1").status_code == 200

    assert pings == []
    assert in_transaction == [False]


def test_connections_closed_while_idle__are_replaced_before_reads_and_writes(
        client: TestClient, admin: Engine) -> None:
    client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"}, headers=FHIR_JSON)
    terminate(admin, idle_pids(hub_engine(client)))

    assert client.get("/fhir/Patient/p1").status_code == 200
    terminate(admin, idle_pids(hub_engine(client)))
    r = client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1", "active": True},
                   headers=FHIR_JSON)
    assert r.status_code == 200, r.text


def lose_next_connection(engine: Engine, admin: Engine) -> None:
    """End the server side of the next connection that reads or writes a resource, once."""
    done: list[bool] = []

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not done and "resources" in statement:
            done.append(True)
            terminate(admin, [conn.connection.dbapi_connection.info.backend_pid])

    event.listen(engine, "before_cursor_execute", before)


def test_read__on_a_connection_lost_in_use_runs_again(client: TestClient, admin: Engine) -> None:
    client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"}, headers=FHIR_JSON)
    lose_next_connection(hub_engine(client), admin)

    r = client.get("/fhir/Patient/p1")

    assert r.status_code == 200, r.text


def test_write__on_a_connection_lost_in_use_is_503_with_retry_after(client: TestClient, admin: Engine) -> None:
    lose_next_connection(hub_engine(client), admin)

    r = client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"}, headers=FHIR_JSON)

    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["issue"][0]["code"] == "transient"
    assert client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"},
                      headers=FHIR_JSON).status_code == 201
