"""Measure the outbox end to end: rows committed → Celery workers → an HTTP receiver.

Run: `.venv/bin/python -m bench.outbox_bench --broker rabbitmq --messages 2000 --workers 2`.
It makes a scratch PostgreSQL database (bench.hubproc), starts a private broker (RabbitMQ
node or Redis server), the test suite's HTTP receiver and `ingang worker` processes, creates
one Subscription (full-resource payload) and the Tasks it will be told about, then measures:

- **throughput**: N notification rows committed in one transaction, one `deliver` task each
  sent after commit (what the commit listener does), until the receiver has every key;
  messages/s = N / (last arrival − commit).
- **latency**: messages enqueued one per transaction at `--rate` per second while the
  workers are otherwise idle; latency = arrival at the receiver − commit; p50 and p99.
- **service time**: with the workers stopped, the same deliveries in this process on one
  thread (`Outbox.deliver_due`): milliseconds per message without Celery or the broker.

Figures go in bench/README.md ("The outbox benchmark").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import httpx
from sqlalchemy import select

from bench.hubproc import create_database, drop_database
from fhir_api.messages import FhirRequest
from hub.app import Hub, build_hub
from hub.celery_app import close_producers, send_deliveries
from hub.outbox import enqueue, store
from hub.outbox.table import outbox_messages
from hub.settings import Settings
from hub.subscriptions.matching import NOTIFY
from tests.integration.outbox.conftest import Receiver
from tests.integration.outbox.processes import RabbitBroker, RedisBroker, Worker, free_port


def _wait(what: str, probe: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def _post(hub: Hub, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = hub.fhir.handle(FhirRequest.from_url("POST", path, body=body))
    result = resp.json()
    assert resp.status == 201 and result is not None, resp.body
    return result


def _arrivals(rec: Receiver) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in httpx.get(f"{rec.url}/_received", timeout=30).json():
        if r["answered"] == 200 and r["key"] and r["key"] not in out:
            out[r["key"]] = r["at"]
    return out


def _enqueue(hub: Hub, settings: Settings, sid: str, tasks: list[str], tag: str) -> tuple[float, list[str]]:
    keys = []
    with hub.engine.begin() as conn:
        for i, task_id in enumerate(tasks):
            # One key per message even when Tasks repeat: the tag keeps them distinct.
            key = f"Subscription/{sid}/Task/{task_id}/_history/1#{tag}{i}"
            enqueue(conn, kind=NOTIFY, key=key,
                    payload={"subscription": sid, "type": "Task", "id": task_id, "version": 1})
            keys.append(key)
    committed = time.time()
    send_deliveries(settings, store.take_written())
    return committed, keys


def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = args.postgres_url
    url = create_database(admin)
    broker: RabbitBroker | RedisBroker = RabbitBroker() if args.broker == "rabbitmq" else RedisBroker()
    broker.start()
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}", port=port)
    rec.start()
    env = {"INGANG_DATABASE_URL": url, "INGANG_BROKER_URL": broker.url, "INGANG_OUTBOX_DISPATCHER": "celery",
           "INGANG_DEMO_DATA": "false", "INGANG_AUTO_MIGRATE": "false", "INGANG_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG", "warning"),
           "INGANG_OUTBOX_POLL_SECONDS": "1"}
    workers = [Worker(env, concurrency=args.concurrency) for _ in range(args.workers)]
    settings = Settings(database_url=url, broker_url=broker.url, outbox_dispatcher="celery", demo_data=False,
                        auto_migrate=False, access_control=False)
    hub = build_hub(settings)
    try:
        for w in workers:
            w.start()
        sub = _post(hub, "Subscription", {
            "resourceType": "Subscription", "status": "requested", "reason": "bench", "criteria": "Task?status=draft",
            "channel": {"type": "rest-hook", "endpoint": f"{rec.url}/hook", "payload": "application/fhir+json"}})
        sid = str(sub["id"])

        def active() -> bool:
            with hub.engine.connect() as conn:
                stored = hub.fhir.repo.read(conn, "Subscription", sid)
            return stored is not None and stored.json()["status"] == "active"

        _wait("the workers and the handshake", active, 120)
        tasks = [_post(hub, "Task", {"resourceType": "Task", "status": "ready", "intent": "order"})["id"]
                 for _ in range(args.tasks)]
        # Warm-up: every worker process builds its hub and opens its connections.
        _, warm = _enqueue(hub, settings, sid, tasks[: 4 * args.workers * args.concurrency], "warm")
        _wait("the warm-up", lambda: set(warm) <= set(_arrivals(rec)), 120)

        picks = [tasks[i % len(tasks)] for i in range(args.messages)]
        committed, keys = _enqueue(hub, settings, sid, picks, "burst")
        _wait("the burst", lambda: set(keys) <= set(_arrivals(rec)), 600)
        arrivals = _arrivals(rec)
        last = max(arrivals[k] for k in keys)
        throughput = len(keys) / (last - committed)

        latencies = []
        for i in range(args.latency_messages):
            commit_at, [key] = _enqueue(hub, settings, sid, [tasks[i % len(tasks)]], f"lat{i}")
            latencies.append((key, commit_at))
            time.sleep(1.0 / args.rate)
        _wait("the paced messages", lambda: {k for k, _ in latencies} <= set(_arrivals(rec)), 120)
        arrivals = _arrivals(rec)
        lat_ms = sorted((arrivals[k] - t) * 1000 for k, t in latencies)
        # In-process service time, workers stopped: what one delivery costs without Celery.
        for w in workers:
            w.stop()
        with hub.engine.begin() as conn:
            for i in range(args.inline_messages):
                task_id = tasks[i % len(tasks)]
                enqueue(conn, kind=NOTIFY, key=f"Subscription/{sid}/Task/{task_id}/_history/1#inline{i}",
                        payload={"subscription": sid, "type": "Task", "id": task_id, "version": 1})
        store.take_written()
        started = time.perf_counter()
        done = 0
        while done < args.inline_messages:
            batch = hub.outbox.deliver_due(20)
            if not batch:
                break
            done += len(batch)
        inline_ms = (time.perf_counter() - started) * 1000 / max(1, done)
        with hub.engine.connect() as conn:
            attempts = list(conn.execute(select(outbox_messages.c.attempts)).scalars())
        return {
            "broker": args.broker, "workers": args.workers, "concurrency": args.concurrency,
            "messages": len(keys), "throughput_msg_s": round(throughput, 1),
            "latency_messages": len(lat_ms), "rate_per_s": args.rate,
            "latency_p50_ms": round(statistics.median(lat_ms), 1),
            "latency_p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))], 1),
            "inline_messages": done, "inline_ms_per_message": round(inline_ms, 2),
            "max_attempts_seen": max(attempts),
        }
    finally:
        for w in workers:
            w.stop()
        close_producers()
        hub.engine.dispose()
        rec.stop()
        broker.stop()
        if not args.keep_db:
            drop_database(admin, url)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="outbox_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["rabbitmq", "redis"], default="rabbitmq")
    parser.add_argument("--messages", type=int, default=2000, help="messages in the throughput burst")
    parser.add_argument("--tasks", type=int, default=200, help="Tasks the notifications name")
    parser.add_argument("--workers", type=int, default=2, help="`ingang worker` processes")
    parser.add_argument("--concurrency", type=int, default=4, help="pool size of each worker")
    parser.add_argument("--latency-messages", type=int, default=300)
    parser.add_argument("--inline-messages", type=int, default=300,
                        help="messages delivered in-process, one thread, after the workers stop")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second in the latency run")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "INGANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
