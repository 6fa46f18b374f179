"""The app reads the login variables with its settings: `create_app()` as uvicorn and `ingang serve` call it."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from adapters.idp.oidc.login_backend import OidcLoginBackend
from hub.app import create_app
from hub.settings import Settings

from .conftest import region_environment

# Until hub/app.py passes the login backends on (see hub/auth/logins.py), these wait for it.
pytestmark = pytest.mark.skipif("logins" not in inspect.signature(create_app).parameters,
                                reason="create_app does not read the INGANG_*_OIDC_* variables yet")


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Set the variables of a region with both identity providers and an embedded database."""
    for name, value in region_environment("https://idp.region.example").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INGANG_DATABASE_URL", f"sqlite:///{tmp_path / 'hub.db'}")
    monkeypatch.setenv("INGANG_DEMO_DATA", "false")
    monkeypatch.setenv("INGANG_BASE_URL", "https://hub.region.example/fhir")


@pytest.mark.usefixtures("region")
def test_an_app_built_from_the_environment_logs_people_in_through_the_configured_providers() -> None:
    logins = create_app().state.auth.logins
    assert set(logins) == {"citizen", "clinician"}
    for backend in logins.values():
        assert isinstance(backend, OidcLoginBackend)
        assert backend.relying_party.settings.redirect_uri == "https://hub.region.example/auth/callback"


@pytest.mark.usefixtures("region")
def test_an_app_built_from_explicit_settings_does_not_read_the_login_variables(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}", demo_data=False))
    assert not any(isinstance(b, OidcLoginBackend) for b in app.state.auth.logins.values())


def test_ingang_config_lists_the_login_variables() -> None:
    names = [name for name, _, _ in Settings.describe()]
    assert "INGANG_CITIZEN_OIDC_ISSUER" in names and "INGANG_CLINICIAN_OIDC_CLIENT_SECRET_FILE" in names
