"""Run the FHIR API in-process over each database backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from tests.conftest import hub_settings


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """Return an HTTP client for a hub on an empty database."""
    app = create_app(hub_settings(database_url, bundle_max_entries=50))
    with TestClient(app, base_url="http://hub.test") as c:
        yield c
