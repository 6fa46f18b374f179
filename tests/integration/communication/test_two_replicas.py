"""Two API processes on one PostgreSQL and one Redis behave as one hub.

Both are started as an operator starts replicas (uvicorn with the app factory, the same token
keys, `INGANG_LIVE_BUS=redis`). A citizen connected to one receives, in order and exactly once,
what a clinician sends through the other, and gets the same transcript replayed from either;
clinicians claiming one case through both at the same moment leave exactly one winner.
Without PostgreSQL or Redis the test skips locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from websockets.asyncio.client import connect

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from adapters.idp.tokens.keys import generate_private_jwk
from hub.app import create_app
from tests.aio import run_in_own_loop
from tests.conftest import _truncate, hub_settings
from tests.integration.cases.workflow_world import ANNA, ERIK, TOLVAN, WorkflowHub
from tests.integration.communication.conftest import opened, quiet, recv_until
from tests.processes import REDIS_URL, REPO, START_TIMEOUT_S, free_port, hub_env, require_redis, stop_process

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.slow]
BASE = "http://hub.test"
MESSAGES = 30
RACES = 4


class Replicas:
    """Two running hub processes, a way to open cases in their database, and tokens they accept."""

    def __init__(self, urls: list[str], keys: Path, world: WorkflowHub) -> None:
        self.urls = urls
        self.world = world
        self.tokens = AccessTokens(KeyRing.load(keys), issuer=BASE, audience=f"{BASE}/fhir")

    def token(self, principal: Any) -> str:
        return str(self.tokens.issue(principal, Scopes.parse("user/*.cruds patient/*.cruds"), client_id="test",
                                     now=datetime.now(UTC), ttl=timedelta(hours=1)).token)

    def claim(self, replica: int, principal: Any, task_id: str) -> httpx.Response:
        return httpx.post(f"{self.urls[replica]}/fhir/Task/{task_id}/$claim", timeout=30,
                          headers={"Authorization": f"Bearer {self.token(principal)}"},
                          json={"resourceType": "Parameters"})

    def socket(self, replica: int, principal: Any, encounter_id: str, since: int = 0) -> Any:
        ws_url = self.urls[replica].replace("http://", "ws://")
        return connect(f"{ws_url}/live/encounters/{encounter_id}?since={since}&access_token={self.token(principal)}",
                       open_timeout=10)


def _start_replica(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start one hub process; start it again on another port if its port was taken before it bound."""
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "hub.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(port), "--ws", "websockets-sansio", "--log-level", "warning"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        if proc.poll() is None or "already in use" not in log.read_text(errors="replace"):
            break
    stop_process(proc)
    pytest.fail(f"a hub replica did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def replicas(pg_database: str, tmp_path: Path) -> Iterator[Replicas]:
    """Start two hub processes over a fresh PostgreSQL database with the demo directory."""
    require_redis()
    _truncate(pg_database)
    prepared = create_app(hub_settings(pg_database, access_control=True, demo_data=True))
    world = WorkflowHub(TestClient(prepared))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [generate_private_jwk()]}))
    env = hub_env(pg_database, INGANG_ACCESS_CONTROL="true", INGANG_LIVE_BUS="redis", INGANG_LIVE_REDIS_URL=REDIS_URL,
                  INGANG_TOKEN_KEYS_FILE=str(keys), INGANG_BASE_URL=f"{BASE}/fhir")
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs = [tmp_path / f"replica-{n}.log" for n in range(2)]
    try:
        for log in logs:
            proc, url = _start_replica(env, log)
            procs.append(proc)
            urls.append(url)
        yield Replicas(urls, keys, world)
    finally:
        for proc in procs:
            stop_process(proc)
        prepared.state.hub.engine.dispose()
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-4000:]


def test_two_replicas__a_citizen_on_one_gets_every_message_sent_through_the_other_once_in_order(
        replicas: Replicas) -> None:
    task_id, encounter_id = replicas.world.open_case()
    assert replicas.claim(0, ANNA, task_id).status_code == 200
    texts = [f"meddelande {n}" for n in range(MESSAGES)]

    async def main() -> tuple[list[str], list[str]]:
        async with replicas.socket(0, TOLVAN, encounter_id) as citizen, \
                replicas.socket(1, ANNA, encounter_id) as clinician:
            await opened(citizen)
            await opened(clinician)
            for text in texts:
                await clinician.send(json.dumps({"type": "send", "text": text}))
                await recv_until(clinician, "ack")
            got = [(await recv_until(citizen, "message"))["resource"]["payload"][0]["contentString"]
                   for _ in texts]
            await quiet(citizen, wait=1.0)
        async with replicas.socket(1, TOLVAN, encounter_id) as again:
            await recv_until(again, "hello")
            replayed = []
            while (frame := json.loads(await asyncio.wait_for(again.recv(), 10)))["type"] != "replayed":
                replayed.append(frame["resource"]["payload"][0]["contentString"])
        return got, replayed
    got, replayed = run_in_own_loop(main())
    assert got == texts
    assert replayed == texts


def test_two_replicas__a_claim_race_across_both_has_exactly_one_winner(replicas: Replicas) -> None:
    for _ in range(RACES):
        task_id, _encounter = replicas.world.open_case()
        start = threading.Barrier(2)

        def claim(args: tuple[int, Any], task: str = task_id, barrier: threading.Barrier = start) -> int:
            replica, clinician = args
            barrier.wait()
            return replicas.claim(replica, clinician, task).status_code
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(claim, [(0, ANNA), (1, ERIK)]))
        assert statuses == [200, 409], statuses
        task = httpx.get(f"{replicas.urls[0]}/fhir/Task/{task_id}", timeout=30,
                         headers={"Authorization": f"Bearer {replicas.token(ANNA)}"}).json()
        assert task["status"] == "in-progress" and task["meta"]["versionId"] == "2"
