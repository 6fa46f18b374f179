"""Start a hub for the browser tests with settings of its own: a short token lifetime, BankID.

Why: the shared `web_hub` in conftest.py runs the embedded default for the whole session; a test
module that needs the hub configured otherwise overrides `web_hub` with one started here, so
the pages, contexts and screenshots of conftest.py work unchanged against it.
https://docs.pytest.org/en/stable/how-to/fixtures.html#overriding-fixtures-on-various-levels
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.web.conftest import WebHub
from tests.processes import (
    assert_no_tracebacks,
    backend_database,
    free_port,
    hub_env,
    migrate,
    start_hub,
    stop_process,
)


@contextmanager
def running_web_hub(backend: str, workdir: Path, **settings: str) -> Iterator[WebHub]:
    """Run a hub as conftest's `web_hub` does (access control, demo data, dev login), plus `settings`."""
    with backend_database(backend, workdir / "hub.db", "ingang_e2e_web") as url:
        migrate(url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = hub_env(url, INGANG_ACCESS_CONTROL="true", INGANG_DEMO_DATA="true", INGANG_BASE_URL=f"{base_url}/fhir",
                      **settings)
        log = workdir / "hub.log"
        proc = start_hub(env, port, log)
        try:
            yield WebHub(backend, base_url)
        finally:
            stop_process(proc)
        assert_no_tracebacks(log)
