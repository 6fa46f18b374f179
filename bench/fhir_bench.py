"""Benchmark the FHIR API on PostgreSQL: throughput and latency over HTTP, and search at scale.

    .venv/bin/python -m bench.fhir_bench --sizes 10000,1000000 --workers 2

Creates a scratch database, bulk-loads the first size in-process (the hub's own repository
and indexer), starts `uvicorn hub.app:create_app --factory --workers N` on loopback, and then:

1. search latency at each size: each search, and reads by id, at low concurrency;
2. throughput at the first size: reads by id, searches (identifier, date range, _include),
   updates, creates and 100-entry transactions, each for --duration seconds with wrk;
3. with --hook, the same throughput runs again behind a per-request hook (bench/hooked_app.py);
4. with --profile, py-spy samples the hub's workers during the named scenarios.

See bench/README.md for the figures last measured and what they mean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import dataset, hubproc, loadgen
from bench.loadgen import ENTRIES_PER_TRANSACTION, SCENARIOS, LoadResult

SEARCHES = ("search-identifier", "search-date", "search-include")
DEFAULT_ADMIN_URL = os.environ.get("INGANG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Describe the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.fhir_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--postgres-url", default=DEFAULT_ADMIN_URL,
                   help="a PostgreSQL database to connect to for CREATE DATABASE (default: %(default)s)")
    p.add_argument("--sizes", default="10000",
                   help="stored resources at which to measure search latency, ascending, e.g. 10000,1000000")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default: %(default)s)")
    p.add_argument("--connections", type=int, default=32, help="open connections for throughput runs")
    p.add_argument("--latency-connections", type=int, default=2, help="open connections for the scale runs")
    p.add_argument("--transaction-connections", type=int, default=4,
                   help="open connections for 100-entry transactions (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default: %(default)s)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each run")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="throughput scenarios to run, in order")
    p.add_argument("--hook", default="none", help="per-request hooks to compare, e.g. none,noop,audit")
    p.add_argument("--profile", default="", help="scenarios to sample with py-spy, e.g. read,create")
    p.add_argument("--load-processes", type=int, default=2, help="processes for bulk loading")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    args = p.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.hook = [h for h in args.hook.split(",") if h]
    args.profile = {s for s in args.profile.split(",") if s}
    unknown = (set(args.scenarios) | args.profile) - set(SCENARIOS)
    if unknown or not set(args.hook) <= {"none", "noop", "audit"}:
        p.error(f"unknown scenario or hook: {sorted(unknown) or args.hook}")
    return args


class Bench:
    """One benchmark run over one scratch database."""

    def __init__(self, args: argparse.Namespace, database_url: str, workdir: Path) -> None:
        self.args = args
        self.database_url = database_url
        self.workdir = workdir
        self.loaded = 0
        self.stored = 0
        self.results: list[LoadResult] = []
        self.profiles: dict[str, list[tuple[float, float, str]]] = {}
        self.hub: hubproc.HubProcess | None = None

    def start_hub(self, hook: str) -> None:
        """(Re)start the hub with a hook, or none."""
        self.stop_hub()
        self.hub = hubproc.HubProcess(self.database_url, self.args.port, self.args.workers, hook,
                                      self.workdir / "hub.log")
        self.hub.start()

    def stop_hub(self) -> None:
        """Stop the hub if it runs."""
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def load_to(self, size: int) -> None:
        """Bulk-load resources until the first `size` of the data set are stored."""
        if size > self.loaded:
            print(f"bulk-loading resources {self.loaded:,}..{size:,} in-process", flush=True)
            rate = dataset.bulk_load(self.database_url, self.loaded, size, self.args.load_processes)
            print(f"  {rate:,.0f} resources/s", flush=True)
            self.loaded = size
        self.stored = hubproc.analyze(self.database_url)

    def measure(self, scenario: str, connections: int, note: str = "") -> LoadResult:
        """Warm up, then run one scenario (profiling it if asked) and keep the result."""
        assert self.hub is not None
        run = dict(patients=dataset.patient_count(self.loaded), observations=dataset.observation_count(self.loaded),
                   stored=self.stored, connections=connections, threads=self.args.threads,
                   body_file=self._transaction_file())
        if self.args.warmup > 0:
            loadgen.run(self.hub.base_url, scenario, seconds=self.args.warmup, **run)  # type: ignore[arg-type]
        profiler = None
        if scenario in self.args.profile and not note.startswith("scale"):
            out = self.workdir / f"profile-{scenario}-{note or 'plain'}.txt"
            profiler = hubproc.start_profiler(self.hub, self.args.duration, out)
        result = loadgen.run(self.hub.base_url, scenario, seconds=self.args.duration, **run)  # type: ignore[arg-type]
        if profiler is not None:
            profiler.wait(timeout=self.args.duration + 60)
            self.profiles[f"{scenario} ({note or 'no hook'})"] = hubproc.summarize_profile(out)
        result.note = note
        self.results.append(result)
        print("  " + row(result), flush=True)
        return result

    def _transaction_file(self) -> Path:
        path = self.workdir / "transaction.json"
        if not path.exists():
            path.write_bytes(dataset.transaction_body(ENTRIES_PER_TRANSACTION))
        return path

    def scale_run(self, size: int) -> None:
        """Measure search and read latency with `size` resources stored."""
        self.stop_hub()
        self.load_to(size)
        self.start_hub("none")
        dataset.check_loaded(self.hub.base_url, self.loaded)  # type: ignore[union-attr]
        print(f"latency at {self.stored:,} stored resources, {self.args.latency_connections} connections",
              flush=True)
        for scenario in (*SEARCHES, "read"):
            self.measure(scenario, self.args.latency_connections, note=f"scale {size:,}")

    def throughput_run(self, hook: str) -> None:
        """Measure every scenario at full concurrency behind `hook`."""
        self.start_hub(hook)
        print(f"throughput, {self.args.connections} connections, hook {hook}", flush=True)
        for scenario in self.args.scenarios:
            connections = self.args.transaction_connections if scenario == "transaction" else self.args.connections
            self.measure(scenario, connections, note="" if hook == "none" else f"hook {hook}")
            if scenario in ("create", "transaction"):
                self.stored = hubproc.analyze(self.database_url)


def row(r: LoadResult) -> str:
    """Format one result as a table row."""
    unit = f"{r.per_second * ENTRIES_PER_TRANSACTION:,.0f} entries/s" if r.scenario == "transaction" else ""
    return (f"| {r.scenario:18} | {r.note or '':15} | {r.stored:>9,} | {r.connections:>3} | {r.per_second:>8,.0f} "
            f"| {r.p50_ms:>7.1f} | {r.p99_ms:>7.1f} | {r.errors:>5} | {r.load:>4.1f} | {unit}")


HEADER = ("| scenario           | run             |    stored |   C |    req/s | p50 ms  | p99 ms  | errs  | load | |\n"
          "|--------------------|-----------------|-----------|-----|----------|---------|---------|-------|------|-|")


def report(bench: Bench, args: argparse.Namespace) -> None:
    """Print the results (and profiles) as Markdown, and write JSON if asked."""
    print(f"\n{os.cpu_count()} CPUs; hub: {args.workers} uvicorn workers on PostgreSQL; wrk {args.threads} thread(s), "
          f"{args.duration:g} s per run after {args.warmup:g} s warm-up\n")
    print(HEADER)
    for r in bench.results:
        print(row(r))
    for name, top in bench.profiles.items():
        print(f"\nwhere the time goes, {name} (py-spy, inclusive % / self % of worker samples):")
        for incl, own, frame in top:
            print(f"  {incl:5.1f}% {own:5.1f}%  {frame}")
    if args.out:
        args.out.write_text(json.dumps({"results": [r.as_dict() for r in bench.results],
                                        "profiles": bench.profiles, "args": sys.argv[1:]}, indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    args = parse_args(argv)
    loadgen.require_wrk()
    started = time.monotonic()
    database_url = hubproc.create_database(args.postgres_url)
    print(f"scratch database: {database_url}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="ingang-bench-"))
    bench = Bench(args, database_url, workdir)
    try:
        bench.scale_run(args.sizes[0])
        for hook in args.hook:
            bench.throughput_run(hook)
        for size in args.sizes[1:]:
            bench.scale_run(size)
    finally:
        bench.stop_hub()
        if not args.keep_db:
            hubproc.drop_database(args.postgres_url, database_url)
    report(bench, args)
    log = workdir / "hub.log"
    errors = log.read_text(errors="replace").count("internal error") if log.exists() else 0
    print(f"\nthe hub logged {errors} internal errors; its log and any profiles are in {workdir}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
