"""The retry policy's waits, and the outbox settings as the environment gives them."""

from __future__ import annotations

import pytest

from hub.outbox import RetryPolicy
from hub.settings import Settings


@pytest.mark.parametrize(("attempts", "low", "high"), [(1, 1.0, 2.0), (2, 2.0, 4.0), (5, 16.0, 32.0), (30, 50.0, 100.0)])
def test_delay__doubles_per_attempt_up_to_the_cap_with_half_of_it_random(attempts: int, low: float, high: float) -> None:
    policy = RetryPolicy(backoff_base=2.0, backoff_cap=100.0)
    assert policy.delay(attempts, rng=lambda: 0.0) == low
    assert policy.delay(attempts, rng=lambda: 1.0) == high


def test_settings__outbox_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"INGANG_OUTBOX_DISPATCHER": "celery", "INGANG_BROKER_URL": "redis://r:6379/1",
                                  "INGANG_OUTBOX_BACKOFF_BASE": "0.5", "INGANG_OUTBOX_MAX_ATTEMPTS": "3",
                                  "INGANG_OUTBOX_OPERATORS": "ops,backup"})
    assert (settings.outbox_dispatcher, settings.broker_url) == ("celery", "redis://r:6379/1")
    assert (settings.outbox_backoff_base, settings.outbox_max_attempts) == (0.5, 3)


def test_settings__a_bad_number_names_its_variable() -> None:
    with pytest.raises(SystemExit, match="INGANG_OUTBOX_LEASE_SECONDS"):
        Settings.from_env({"INGANG_OUTBOX_LEASE_SECONDS": "a minute"})


@pytest.mark.parametrize(("values", "message"), [
    ({"outbox_dispatcher": "cron"}, "INGANG_OUTBOX_DISPATCHER must be one of"),
    ({"outbox_dispatcher": "celery"}, "needs INGANG_BROKER_URL"),
])
def test_build_outbox__refuses_a_dispatcher_it_cannot_run(values: dict[str, str], message: str) -> None:
    from hub.outbox.wiring import build_outbox

    with pytest.raises(SystemExit, match=message):
        build_outbox(Settings(**values), None, None)  # type: ignore[arg-type]
