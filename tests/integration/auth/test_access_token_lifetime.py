"""The access tokens' lifetime is a setting: INGANG_ACCESS_TOKEN_SECONDS, read, bounded, documented, used.

Why: a region tunes how long a stolen token is worth against how often apps refresh, and the
browser tests need tokens that expire within a test to prove the pages refresh them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hub.app import create_app
from hub.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_access_token_seconds__defaults_to_ten_minutes_and_is_read_from_the_environment() -> None:
    assert Settings().access_token_seconds == 600
    assert Settings.from_env({"INGANG_ACCESS_TOKEN_SECONDS": "120"}).access_token_seconds == 120


@pytest.mark.parametrize("value", ["4", "3601", "0", "-60", "ten minutes"])
def test_access_token_seconds__outside_five_seconds_to_an_hour_is_a_configuration_error_naming_it(value: str) -> None:
    with pytest.raises(SystemExit, match="INGANG_ACCESS_TOKEN_SECONDS"):
        Settings.from_env({"INGANG_ACCESS_TOKEN_SECONDS": value})


def test_access_token_seconds__is_listed_by_ingang_config_and_the_readme() -> None:
    assert "INGANG_ACCESS_TOKEN_SECONDS" in [name for name, _, _ in Settings.describe()]
    assert "| `INGANG_ACCESS_TOKEN_SECONDS` | `600` |" in README.read_text(encoding="utf-8")


def test_app__issues_access_tokens_that_live_as_long_as_the_setting_says(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", demo_data=False,
                              access_token_seconds=42))
    auth = app.state.auth
    assert auth.settings.access_token_ttl == timedelta(seconds=42)
    assert auth.tokens.ttl == timedelta(seconds=42)
