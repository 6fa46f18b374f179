"""The `ingang` command: serve the hub, migrate its database, evaluate triage.

`ingang serve` on a fresh checkout runs the embedded default (a SQLite file under ./var,
migrated on start, demo data) and prints the URL to open.
"""

from __future__ import annotations

import argparse
import sys

from hub.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    # Workers read their settings from the environment; tokens name this URL as audience.
    os.environ.setdefault("INGANG_BASE_URL", f"http://{args.host}:{args.port}/fhir")
    settings = Settings.from_env()
    from hub.app import build_hub

    # Build once in the parent so a bad configuration or an unmigrated database stops here,
    # with its message, before any worker starts.
    build_hub(settings).engine.dispose()
    print(f"Ingång is running: FHIR base http://{args.host}:{args.port}/fhir "
          f"(database {settings.database_url})", flush=True)
    uvicorn.run("hub.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=settings.log_level, access_log=args.access_log)
    return 0


def _db(args: argparse.Namespace) -> int:
    from hub import database

    settings = Settings.from_env()
    if args.db_command == "upgrade":
        database.upgrade(settings)
        print("database is up to date")
        return 0
    engine = database.make_engine(settings)
    current, head = database.pending_migrations(engine, settings)
    engine.dispose()
    print(f"current: {current or 'none'}  head: {head}")
    return 0 if current == head else 1


def _config(_args: argparse.Namespace) -> int:
    for name, default, meaning in Settings.describe():
        print(f"{name:32} {default or '(empty)':28} {meaning}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not settings.broker_url:
        print("configuration error: `ingang worker` needs INGANG_BROKER_URL (amqp://… or redis://…)",
              file=sys.stderr)
        return 2
    from hub.app import build_hub
    from hub.celery_app import run_worker

    # Fail here, with the message, on a bad configuration or an unmigrated database.
    build_hub(settings).engine.dispose()
    run_worker(settings, concurrency=args.concurrency, pool=args.pool, loglevel=settings.log_level)
    return 0


def _triage(args: argparse.Namespace) -> int:
    from triage.eval_client import run_eval_cli

    return int(run_eval_cli(args.rest) or 0)


def _cases(_args: argparse.Namespace) -> int:
    from hub.app import build_hub
    from hub.case_queue_rebuild import rebuild_queue

    hub = build_hub(Settings.from_env())
    try:
        report = rebuild_queue(hub.engine)
    finally:
        hub.engine.dispose()
    print(f"case_queue: {report.cases} case Tasks, {report.written} rows written, {report.removed} removed")
    for task_id in report.skipped:
        print(f"skipped Task/{task_id}: its status and businessStatus name no state of a case", file=sys.stderr)
    return 1 if report.skipped else 0


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="ingang", description="Ingång FHIR hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="API processes (use PostgreSQL for more than one)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("db_command", choices=["upgrade", "current"])
    db.set_defaults(func=_db)
    config = sub.add_parser("config", help="list the INGANG_* settings")
    config.set_defaults(func=_config)
    worker = sub.add_parser("worker", help="deliver outbox messages with a Celery worker (INGANG_BROKER_URL)")
    worker.add_argument("--concurrency", type=int, default=2, help="deliveries in parallel in this worker")
    worker.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"],
                        help="prefork: one process per slot; threads: one process, many threads")
    worker.set_defaults(func=_worker)
    triage = sub.add_parser("triage", help="triage tools")
    triage_sub = triage.add_subparsers(dest="triage_command", required=True)
    evaluate = triage_sub.add_parser("eval", help="measure triage on vignettes: eval FILE.jsonl [--base URL]",
                                     add_help=False)
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=_triage)
    cases = sub.add_parser("cases", help="case tools")
    cases_sub = cases.add_subparsers(dest="cases_command", required=True)
    rebuild = cases_sub.add_parser("rebuild-queue", help="rebuild the waiting-room rows from the stored case Tasks")
    rebuild.set_defaults(func=_cases)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
