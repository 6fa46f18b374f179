"""Refresh tokens and one-time codes on the hub's own SQLite engine, under requests at the same moment.

Two browser tabs (or an app retrying) refresh with one token at once. The store must let
exactly one win and refuse the others as reuse; before the write lock was taken at the start
of the transaction, SQLite refused the later writer with "database is locked", which the
token endpoint answered with a 500.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from adapters.idp.smart.one_time import CODE
from adapters.idp.smart.one_time_sql import SqlOneTimeStore, one_time_entries
from adapters.idp.tokens import RefreshGrant, RefreshTokenError, new_refresh_token
from adapters.idp.tokens.refresh_sql import SqlRefreshTokenStore, refresh_tokens
from hub import database
from hub.settings import Settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ROUNDS, TABS = 25, 4


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The hub's tuned SQLite engine (WAL, busy timeout, BEGIN IMMEDIATE on request)."""
    made = database.make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}"))
    refresh_tokens.create(made, checkfirst=True)
    one_time_entries.create(made, checkfirst=True)
    yield made
    made.dispose()


def at_once(work: list[object], job: object) -> list[str]:
    """Run `job` in TABS threads released together; return each one's outcome, errors included."""
    barrier = threading.Barrier(TABS)
    outcomes: list[str] = []

    def run() -> None:
        barrier.wait()
        try:
            outcomes.append(str(job()))  # type: ignore[operator]
        except RefreshTokenError as exc:
            outcomes.append(exc.reason)
        except Exception as exc:  # what must not happen: the endpoint would answer 500
            outcomes.append(f"error: {exc}")

    threads = [threading.Thread(target=run) for _ in range(TABS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    work.extend(outcomes)
    return outcomes


def test_refresh_at_once__one_tab_wins_and_the_others_are_told_it_was_reused(engine: Engine) -> None:
    store = SqlRefreshTokenStore(engine)
    for _ in range(ROUNDS):
        _, token_hash = new_refresh_token()
        store.add(RefreshGrant(token_hash=token_hash, family_id=token_hash[:12], client_id="ingang-citizen",
                               principal={"kind": "citizen", "person_id": "191212121212"}, scope="openid",
                               issued_at=NOW, expires_at=NOW + timedelta(hours=12)))
        outcomes = at_once([], lambda h=token_hash: store.use(h, now=NOW) and "ok")
        assert not [o for o in outcomes if o.startswith("error")], outcomes
        assert outcomes.count("ok") == 1, outcomes


def test_code_redeemed_at_once__exactly_one_gets_it(engine: Engine) -> None:
    store = SqlOneTimeStore(engine)
    for round_no in range(ROUNDS):
        store.put(CODE, f"code-{round_no}", {"n": round_no}, expires_at=NOW + timedelta(minutes=1))
        outcomes = at_once([], lambda k=f"code-{round_no}": "ok" if store.take(CODE, k, now=NOW) else "gone")
        assert not [o for o in outcomes if o.startswith("error")], outcomes
        assert outcomes.count("ok") == 1, outcomes
