"""Benchmark the live layer: 1,000 open WebSockets and how fast the hub fans messages out to them.

    .venv/bin/python -m bench.websocket_bench --sockets 1000 --database sqlite --bus memory
    .venv/bin/python -m bench.websocket_bench --sockets 1000 --database postgres --bus redis --replicas 2

Writes a world of `sockets / 2` encounters (one citizen, one clinician who has claimed them
all) straight into a fresh database, starts the hub (uvicorn, one process per replica, the
same token keys), and then, from one asyncio client process:

1. opens the sockets: for each encounter the citizen's and the clinician's (on different
   replicas when there are two), each an authenticated, access-checked and audited join;
2. chat: clinicians send `--messages` chat messages at `--rate` per second to random
   encounters; latency is from the client sending the frame to the citizen's socket
   receiving the stored message (validated, written, audited, published, pushed);
3. broadcast: with all those sockets still open, `--room-sockets` more sockets follow the
   unit's waiting room and `--updates` Encounter updates are written over REST; latency is
   from sending the update to each waiting-room socket receiving the change.

See bench/README.md for the figures last measured and what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from adapters.idp.tokens.keys import generate_private_jwk
from bench import hubproc
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Citizen, Clinician, Commission

BASE = "http://hub.bench"
UNIT_HSA, REGION_HSA = "SE2321000000-DIG1", "SE2321000000-NORR"
CITIZEN = Citizen("191212121212", "Tolvan", "Tolvansson")
CLINICIAN = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-dig1", UNIT_HSA, REGION_HSA))
DEFAULT_PG = os.environ.get("INGANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Describe the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.websocket_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--sockets", type=int, default=1000, help="chat sockets to open, two per encounter")
    p.add_argument("--room-sockets", type=int, default=1000, help="waiting-room sockets for the broadcast run")
    p.add_argument("--messages", type=int, default=300, help="chat messages to send")
    p.add_argument("--rate", type=float, default=20.0, help="chat messages per second")
    p.add_argument("--updates", type=int, default=20, help="Encounter updates for the broadcast run")
    p.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url", default=DEFAULT_PG, help="where to CREATE DATABASE for --database postgres")
    p.add_argument("--bus", choices=("memory", "redis"), default="memory")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--replicas", type=int, default=1, help="hub processes (more than one needs --bus redis)")
    p.add_argument("--connect-concurrency", type=int, default=20, help="sockets opening at once")
    args = p.parse_args(argv)
    if args.replicas > 1 and args.bus != "redis":
        p.error("several replicas need --bus redis")
    return args


def world(encounters: int) -> list[dict[str, Any]]:
    """Return the directory and `encounters` cases, all claimed by the one clinician."""
    ref = lambda r: {"reference": r}  # noqa: E731
    out: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "dig1", "identifier": [{"system": HSA_SYSTEM, "value": UNIT_HSA}]},
        {"resourceType": "Practitioner", "id": "anna",
         "identifier": [{"system": HSA_SYSTEM, "value": CLINICIAN.employee_hsa_id}]},
        {"resourceType": "PractitionerRole", "id": "anna-dig1", "practitioner": ref("Practitioner/anna"),
         "organization": ref("Organization/dig1")},
        {"resourceType": "Patient", "id": "tolvan",
         "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": CITIZEN.person_id}]},
    ]
    for n in range(encounters):
        out.append({"resourceType": "Encounter", "id": f"enc-{n}", "status": "in-progress",
                    "subject": ref("Patient/tolvan"), "serviceProvider": ref("Organization/dig1"),
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"}})
        out.append({"resourceType": "Task", "id": f"task-{n}", "status": "in-progress", "intent": "order",
                    "for": ref("Patient/tolvan"), "encounter": ref(f"Encounter/enc-{n}"),
                    "owner": ref("PractitionerRole/anna-dig1")})
    return out


def write_world(database_url: str, encounters: int) -> None:
    """Write the world straight through the repository, in one transaction."""
    from hub.app import build_hub
    from hub.settings import Settings

    hub = build_hub(Settings(database_url=database_url, demo_data=False, auto_migrate=False))
    with hub.fhir.unit_of_work(True) as conn:
        for resource in world(encounters):
            body = dict(resource)
            hub.fhir.repo.create(conn, body, body.pop("id"))
    hub.engine.dispose()


def start_replica(database_url: str, keys: Path, args: argparse.Namespace, log: Path) -> tuple[Any, str]:
    """Start one hub process and wait until it answers."""
    port = hubproc_free_port()
    env = hubproc.hub_env(database_url, INGANG_ACCESS_CONTROL="true", INGANG_LIVE_BUS=args.bus,
                          INGANG_LIVE_REDIS_URL=args.redis_url, INGANG_TOKEN_KEYS_FILE=str(keys),
                          INGANG_BASE_URL=f"{BASE}/fhir", INGANG_DB_POOL_SIZE="20")
    command = [sys.executable, "-m", "uvicorn", "hub.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=hubproc.REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the hub exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the hub did not start; see {log}")


def hubproc_free_port() -> int:
    """Return a free loopback port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(values: list[float]) -> dict[str, float]:
    """Return count, p50, p99 and max, in milliseconds."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"n": len(values), "p50_ms": round(pick(0.50), 1), "p99_ms": round(pick(0.99), 1),
            "max_ms": round(ordered[-1] * 1000, 1), "mean_ms": round(statistics.fmean(values) * 1000, 1)}


async def open_all(urls: list[str], count: int, path: Any, token: Any, concurrency: int
                   ) -> tuple[list[ClientConnection], list[float]]:
    """Open `count` sockets (path(i), token(i)), `concurrency` at a time; return them and each open time."""
    gate = asyncio.Semaphore(concurrency)
    times: list[float] = [0.0] * count

    async def one(i: int) -> ClientConnection:
        async with gate:
            start = time.perf_counter()
            ws = await connect(f"{urls[i % len(urls)].replace('http', 'ws')}{path(i)}?access_token={token(i)}",
                               open_timeout=120, max_queue=None)
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise SystemExit(f"socket {i} was not admitted: {hello}")
            times[i] = time.perf_counter() - start
            return ws
    sockets = await asyncio.gather(*(one(i) for i in range(count)))
    return list(sockets), times


async def run(args: argparse.Namespace, urls: list[str], tokens: AccessTokens) -> dict[str, Any]:
    """Open the sockets, then measure chat and broadcast latency."""
    now = datetime.now(UTC)
    issue = lambda who: tokens.issue(who, Scopes.parse("user/*.cruds patient/*.cruds"), client_id="bench",  # noqa: E731
                                     now=now, ttl=timedelta(hours=2)).token
    citizen_token, clinician_token = issue(CITIZEN), issue(CLINICIAN)
    pairs = args.sockets // 2
    started = time.perf_counter()
    citizens, c_times = await open_all(urls, pairs, lambda i: f"/live/encounters/enc-{i}",
                                       lambda i: citizen_token, args.connect_concurrency)
    shifted = urls[1:] + urls[:1]
    clinicians, k_times = await open_all(shifted, pairs, lambda i: f"/live/encounters/enc-{i}",
                                         lambda i: clinician_token, args.connect_concurrency)
    opened_s = time.perf_counter() - started
    result: dict[str, Any] = {"sockets": 2 * pairs, "open_s": round(opened_s, 1),
                              "open_latency": percentiles(c_times + k_times)}

    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def listen(ws: ClientConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "message":
                text = frame["resource"]["payload"][0]["contentString"]
                if text in sent:
                    latencies.append(time.perf_counter() - sent[text])
                    if len(latencies) == args.messages:
                        done.set()

    async def drain(ws: ClientConnection) -> None:
        async for _raw in ws:
            pass
    listeners = [asyncio.create_task(listen(ws)) for ws in citizens]
    drains = [asyncio.create_task(drain(ws)) for ws in clinicians]
    rng = random.Random(7)
    for n in range(args.messages):
        text = f"bench {n}"
        sent[text] = time.perf_counter()
        await clinicians[rng.randrange(pairs)].send(json.dumps({"type": "send", "text": text}))
        await asyncio.sleep(1 / args.rate)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 60)
    result["chat"] = {**percentiles(latencies), "lost": args.messages - len(latencies), "rate": args.rate}

    rooms, _r_times = await open_all(urls, args.room_sockets, lambda i: "/live/waiting-rooms/dig1",
                                    lambda i: clinician_token, args.connect_concurrency)
    result["room_sockets"] = len(rooms)
    got: list[float] = []
    update_sent: dict[int, float] = {}

    async def follow(ws: ClientConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "encounter" and frame.get("version") in update_sent:
                got.append(time.perf_counter() - update_sent[frame["version"]])
    followers = [asyncio.create_task(follow(ws)) for ws in rooms]
    async with httpx.AsyncClient(base_url=urls[0], timeout=60,
                                 headers={"Authorization": f"Bearer {clinician_token}"}) as client:
        encounter = (await client.get("/fhir/Encounter/enc-0")).json()
        for n in range(args.updates):
            encounter["length"] = {"value": n, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
            update_sent[int(encounter["meta"]["versionId"]) + 1] = time.perf_counter()
            r = await client.put("/fhir/Encounter/enc-0", json=encounter)
            if r.status_code != 200:
                raise SystemExit(f"the Encounter update was refused: {r.status_code} {r.text[:300]}")
            encounter = r.json()
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    result["broadcast"] = {**percentiles(got), "expected": args.updates * len(rooms),
                           "lost": args.updates * len(rooms) - len(got)}
    for task in listeners + drains + followers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in citizens + clinicians + rooms), return_exceptions=True)
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures as JSON."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ingang-ws-bench-"))
    if args.database == "sqlite":
        url = f"sqlite:///{workdir / 'hub.db'}"
        subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], cwd=hubproc.REPO, check=True,
                       env=hubproc.hub_env(url), capture_output=True)
    else:
        url = hubproc.create_database(args.postgres_url)
    procs = []
    try:
        write_world(url, args.sockets // 2)
        keys = workdir / "keys.json"
        keys.write_text(json.dumps({"keys": [generate_private_jwk()]}))
        urls = []
        for n in range(args.replicas):
            proc, replica_url = start_replica(url, keys, args, workdir / f"hub-{n}.log")
            procs.append(proc)
            urls.append(replica_url)
        tokens = AccessTokens(KeyRing.load(keys), issuer=BASE, audience=f"{BASE}/fhir")
        figures = asyncio.run(run(args, urls, tokens))
        figures.update({"database": args.database, "bus": args.bus, "replicas": args.replicas})
        print(json.dumps(figures, indent=2))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if args.database == "postgres":
            hubproc.drop_database(args.postgres_url, url)
    print(f"logs in {workdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
