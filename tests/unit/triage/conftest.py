"""Share one validated catalog across the triage tests (loading it proves every rule reachable)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # the repo may be tested without an editable install
    sys.path.insert(0, str(REPO))

from triage.catalog import Catalog, load_catalog  # noqa: E402

VIGNETTES = REPO / "triage" / "vignettes"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """Return the shipped catalog, validated once per test session."""
    return load_catalog()
