"""A guarded hub (the access tests' world) with the journal view and booking operations wired in.

The tests that talk RIV-TA get one local SOAP server process per module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.idp.tokens import KeyRing
from tests.fixtures.soap_server.harness import soap_server
from tests.integration.access.conftest import GuardedHub, make_hub

__all__ = ["key_ring", "soap_server", "triage_catalog", "world_hub"]


@pytest.fixture(scope="session")
def key_ring() -> KeyRing:
    """One signing key for the session: generating keys is slow."""
    return KeyRing.generate()


@pytest.fixture(scope="session")
def triage_catalog() -> Any:
    """The triage catalog, loaded once."""
    from triage.catalog import load_catalog

    return load_catalog()


@pytest.fixture
def world_hub(database_url: str, key_ring: KeyRing, triage_catalog: Any) -> Iterator[GuardedHub]:
    """A guarded hub with the world in it, on SQLite and then PostgreSQL; tests add their operations."""
    yield from make_hub(database_url, key_ring, triage_catalog)
