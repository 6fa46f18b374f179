"""Two hub processes: a case transferred from hub A reaches hub B after B comes up, once.

Hub A (open API, inline outbox dispatcher) and hub B (access control on, A registered as a
backend service, demo units) run as uvicorn processes on their own databases — A on SQLite
and on PostgreSQL, B on SQLite. The transfer is started while B is down, so A's first
deliveries fail for real and are retried; once B is up the case arrives, and the same
transaction posted again changes nothing at B.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from cases.hub_transfer import ORIGIN_SYSTEM, transfer_bundle
from hub.app import Hub, build_hub
from hub.settings import Settings
from hub.transfer_peer import PeerClient, load_peer_hubs
from hub.transfer_wiring import HubTransfers
from tests.conftest import BACKENDS
from tests.integration.journal.case_world import seed_case
from tests.integration.transfer.two_hubs import TARGET_HSA, write_configs
from tests.processes import free_port, hub_env, scratch_pg_database, start_hub, stop_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEADLINE_S = 240.0  # a give-up bound for slow, shared machines, not a speed assertion


def _env(database_url: str, base: str, **extra: str) -> dict[str, str]:
    return hub_env(database_url, INGANG_BASE_URL=f"{base}/fhir", **extra)


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start a hub and wait until it answers."""
    return start_hub(env, port, log, timeout=DEADLINE_S)


def _until(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"a hub exited while waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            found = check()
            if found:
                return found
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(params=BACKENDS)
def a_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return hub A's migrated database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp_path / "a.db")
        yield f"sqlite:///{tmp_path / 'a.db'}"
        return
    from hub import database

    with scratch_pg_database("ingang_e2e_transfer") as url:
        database.upgrade(Settings(database_url=url))
        yield url


def _hub_over(url: str, **overrides: Any) -> Hub:
    values: dict[str, Any] = {"database_url": url, "demo_data": False, "auto_migrate": False,
                              "access_control": False, "outbox_dispatcher": "off", **overrides}
    return build_hub(Settings(**values))


def test_transfer__reaches_a_hub_that_comes_up_later_exactly_once(
        a_database: str, sqlite_template: Path, tmp_path: Path) -> None:
    a_port, b_port = free_port(), free_port()
    a_base, b_base = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
    a_peers, b_clients, b_peers = write_configs(tmp_path)
    peers_doc = json.loads(a_peers.read_text())
    peers_doc["peers"]["syd"].update(fhir_base=f"{b_base}/fhir", token_url=f"{b_base}/auth/token")
    a_peers.write_text(json.dumps(peers_doc))
    shutil.copy(sqlite_template, tmp_path / "b.db")
    b_url = f"sqlite:///{tmp_path / 'b.db'}"

    seeding = _hub_over(a_database)
    case = seed_case(seeding.fhir)
    seeding.engine.dispose()

    log = tmp_path / "hubs.log"
    a = _start(_env(a_database, a_base, INGANG_DEMO_DATA="false", INGANG_ACCESS_CONTROL="false",
                    INGANG_PEER_HUBS_FILE=str(a_peers), INGANG_OUTBOX_DISPATCHER="inline",
                    INGANG_OUTBOX_POLL_SECONDS="0.2", INGANG_OUTBOX_BACKOFF_BASE="0.5",
                    INGANG_OUTBOX_BACKOFF_CAP="2", INGANG_OUTBOX_MAX_ATTEMPTS="100"), a_port, log)
    b: subprocess.Popen[bytes] | None = None
    try:
        body = {"resourceType": "Parameters", "parameter": [
            {"name": "hub", "valueString": "syd"}, {"name": "unit", "valueString": TARGET_HSA},
            {"name": "reason", "valueString": "Patienten har flyttat till Region Syd"}]}
        answer = httpx.post(f"{a_base}/fhir/Task/{case.task}/$transfer-out", json=body, timeout=10)
        assert answer.status_code == 200, answer.text

        outbox_rows = create_engine(a_database)

        def attempts() -> int:
            with outbox_rows.connect() as conn:
                row = conn.exec_driver_sql("SELECT attempts, status FROM outbox_messages WHERE kind = 'hub-transfer'").first()
            return int(row[0]) if row and row[1] != "delivered" and row[0] >= 2 else 0

        try:
            _until(attempts, "hub A to fail against the missing hub B at least twice", a, log)
        finally:
            outbox_rows.dispose()
        b = _start(_env(b_url, b_base, INGANG_DEMO_DATA="true", INGANG_ACCESS_CONTROL="true",
                        INGANG_CLIENTS_FILE=str(b_clients), INGANG_PEER_HUBS_FILE=str(b_peers),
                        INGANG_OUTBOX_DISPATCHER="off"), b_port, log)

        def sent() -> str | None:
            task = httpx.get(f"{a_base}/fhir/Task/{case.task}", timeout=5).json()
            return next((o["valueReference"]["reference"] for o in task.get("output", [])
                         if o["type"]["coding"][0]["code"] == "hub-transfer"), None)

        remote = _until(sent, "the transfer to reach hub B", b, log)
        receiver = _hub_over(b_url)
        with receiver.fhir.unit_of_work(False) as conn:
            found = receiver.fhir.matcher.ids(conn, "Task", [("identifier", f"{ORIGIN_SYSTEM}|{a_base}/fhir/Task/{case.task}")])
            stored = receiver.fhir.repo.read(conn, "Task", found[0])
        assert remote == f"{b_base}/fhir/Task/{found[0]}" and len(found) == 1
        assert stored is not None and stored.json()["businessStatus"]["coding"][0]["code"] == "transferred"

        sender = _hub_over(a_database, base_url=f"{a_base}/fhir")
        transfers = HubTransfers(sender.fhir, load_peer_hubs(str(a_peers)), sender_base=f"{a_base}/fhir")
        with sender.fhir.unit_of_work(False) as conn:
            current = sender.fhir.repo.read(conn, "Task", case.task)
            assert current is not None
            bundle = transfer_bundle(transfers.read_case(conn, current.json()), sender_base=f"{a_base}/fhir",
                                     sender_name="Ingång")
        client = PeerClient(transfers.peers.peers["syd"])
        try:
            again = client.send(client.unit_id(TARGET_HSA), bundle)
        finally:
            client.close()
        assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
        with receiver.fhir.unit_of_work(False) as conn:
            assert len(receiver.fhir.matcher.ids(conn, "Task", [("identifier", f"{ORIGIN_SYSTEM}|{a_base}/fhir/Task/{case.task}")])) == 1
            assert len(receiver.fhir.matcher.ids(conn, "Communication", [("encounter", stored.json()["encounter"]["reference"])])) == 2
        sender.engine.dispose()
        receiver.engine.dispose()
    finally:
        stop_process(a)
        if b is not None:
            stop_process(b)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]
