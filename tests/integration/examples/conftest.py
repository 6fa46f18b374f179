"""Give the examples tests the package, the expected verdicts and one hub per database backend.

Every example costs the hub a validation and a write (~70 s of CPU for the package), so the
backends run side by side, each in a process of its own (spawned at the start, a TestClient
over `create_app` inside) while this process waits. Each stores the whole package: half of
it sent as JSON, the other half as XML, crosswise, so every example also goes through JSON
once and through XML once (see `roundtrip.shares`).

The package is fetched by tests/fixtures/r4-examples/fetch.sh (`npm pack`); without it these
tests skip, except in CI, where they must run. Set INGANG_R4_EXAMPLES_DIR to use another copy.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import BACKENDS, IN_CI, _truncate, hub_settings
from tests.integration.examples.corpus import EXAMPLES_DIR, Example, Verdicts, load_examples
from tests.integration.examples.roundtrip import BackendRun, run_backend

SUMMARIES: list[str] = []
RUN_TIMEOUT_S = 900


@dataclass
class ExamplesHub:
    """A backend's database, what its run did, and a hub in this process over it."""

    backend: str
    run: BackendRun
    client: TestClient
    settings: Settings
    supported_types: frozenset[str]


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    """Return every resource in the official R4 examples package."""
    if not EXAMPLES_DIR.is_dir():
        message = f"the R4 examples are not at {EXAMPLES_DIR}; run tests/fixtures/r4-examples/fetch.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return load_examples(EXAMPLES_DIR)


@pytest.fixture(scope="session")
def verdicts(examples: list[Example], backend_runs: object) -> Verdicts:
    """Return what the hub must do with each example, with its default body limit.

    Asks for `backend_runs` only so the runs start first and this work overlaps them.
    """
    return Verdicts(examples, EXAMPLES_DIR, Settings().max_body_bytes)


def _database(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("examples") / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _truncate(url)
    return url


@pytest.fixture(scope="session")
def backend_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, examples: list[Example]
) -> Iterator[dict[str, tuple[str, Future[BackendRun]] | BaseException]]:
    """Start the examples on every available backend at once; map backend → (url, its run) or why not."""
    urls: dict[str, str] = {}
    runs: dict[str, tuple[str, Future[BackendRun]] | BaseException] = {}
    for backend in BACKENDS:
        try:
            urls[backend] = _database(backend, request, tmp_path_factory)
        except (pytest.skip.Exception, pytest.fail.Exception) as unavailable:
            runs[backend] = unavailable
    # Spawn, not fork: this process may already run threads (TestClient portals, pools).
    pool = ProcessPoolExecutor(max_workers=len(urls) or 1, mp_context=multiprocessing.get_context("spawn"))
    for index, (backend, url) in enumerate(urls.items()):
        runs[backend] = (url, pool.submit(run_backend, url, str(EXAMPLES_DIR), index, len(urls)))
    yield runs
    pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module", params=BACKENDS)
def examples_hub(
    request: pytest.FixtureRequest, backend_runs: dict[str, tuple[str, Future[BackendRun]] | BaseException]
) -> Iterator[ExamplesHub]:
    """Wait for one backend's run, then serve its database from a hub in this process too."""
    started = backend_runs[request.param]
    if isinstance(started, BaseException):
        raise started
    url, future = started
    run = future.result(timeout=RUN_TIMEOUT_S)
    settings = hub_settings(url)
    with TestClient(create_app(settings), base_url="http://hub.test", raise_server_exceptions=False) as client:
        capability = client.get("/fhir/metadata").json()
        types = frozenset(r["type"] for r in capability["rest"][0]["resource"])
        yield ExamplesHub(request.param, run, client, settings, types)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what happened to the examples on each backend."""
    if SUMMARIES:
        terminalreporter.section("official R4 examples")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
