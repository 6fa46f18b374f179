"""One contract for the one-time store (codes, logins, launches, jtis): in memory, SQLite, PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from smart_fixtures import NOW
from sqlalchemy import create_engine, delete

from adapters.idp.smart import InMemoryOneTimeStore, OneTimeStore
from adapters.idp.smart.one_time import CODE, LAUNCH
from adapters.idp.smart.one_time_sql import SqlOneTimeStore, one_time_entries


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OneTimeStore]:
    """Return an empty store of each kind."""
    if request.param == "memory":
        yield InMemoryOneTimeStore()
        return
    url = f"sqlite:///{tmp_path / 'once.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = create_engine(url)
    one_time_entries.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(delete(one_time_entries))
    yield SqlOneTimeStore(engine)
    engine.dispose()


LATER = NOW + timedelta(minutes=1)


def test_one_time_store__a_value_is_taken_once(store: OneTimeStore) -> None:
    store.put(CODE, "abc", {"client_id": "app", "n": 1}, expires_at=LATER)
    assert store.take(CODE, "abc", now=NOW) == {"client_id": "app", "n": 1}
    assert store.take(CODE, "abc", now=NOW) is None


def test_one_time_store__a_peek_keeps_the_value_until_it_is_taken_or_expires(store: OneTimeStore) -> None:
    store.put(CODE, "abc", {"n": 1}, expires_at=LATER)
    assert store.peek(CODE, "abc", now=NOW) == {"n": 1}
    assert store.peek(LAUNCH, "abc", now=NOW) is None
    assert store.peek(CODE, "abc", now=LATER) is None
    assert store.take(CODE, "abc", now=NOW) == {"n": 1}
    assert store.peek(CODE, "abc", now=NOW) is None


def test_one_time_store__an_expired_value_is_gone(store: OneTimeStore) -> None:
    store.put(CODE, "abc", {"x": 1}, expires_at=LATER)
    assert store.take(CODE, "abc", now=LATER) is None


def test_one_time_store__a_code_cannot_be_taken_as_a_launch(store: OneTimeStore) -> None:
    store.put(CODE, "abc", {"x": 1}, expires_at=LATER)
    assert store.take(LAUNCH, "abc", now=NOW) is None
    assert store.take(CODE, "abc", now=NOW) == {"x": 1}


def test_one_time_store__a_claim_succeeds_once_until_it_expires(store: OneTimeStore) -> None:
    assert store.claim("jti", "client\x00j1", expires_at=LATER, now=NOW)
    assert not store.claim("jti", "client\x00j1", expires_at=LATER, now=NOW + timedelta(seconds=30))
    assert store.claim("jti", "client\x00j1", expires_at=LATER + timedelta(minutes=1), now=LATER)


def test_one_time_store__purge_drops_expired_entries(store: OneTimeStore) -> None:
    store.put(CODE, "a", {}, expires_at=LATER)
    store.put(CODE, "b", {}, expires_at=LATER + timedelta(minutes=5))
    assert store.purge(now=LATER) == 1
    assert store.take(CODE, "b", now=LATER) == {}


def test_one_time_store__of_two_concurrent_takes_exactly_one_wins(store: OneTimeStore) -> None:
    store.put(CODE, "race", {"x": 1}, expires_at=LATER)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(store.take(CODE, "race", now=NOW))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count({"x": 1}) == 1, results
