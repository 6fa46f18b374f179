"""One contract for refresh token stores, run against the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete
from token_fixtures import CITIZEN, NOW

from adapters.idp.tokens import (
    InMemoryRefreshTokenStore,
    RefreshGrant,
    RefreshTokenError,
    RefreshTokenStore,
    new_family_id,
    new_refresh_token,
    principal_to_claim,
)
from adapters.idp.tokens.refresh_sql import SqlRefreshTokenStore, refresh_tokens


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RefreshTokenStore]:
    """Return an empty store of each kind."""
    if request.param == "memory":
        yield InMemoryRefreshTokenStore()
        return
    url = f"sqlite:///{tmp_path / 'tokens.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    engine = create_engine(url)
    refresh_tokens.create(engine, checkfirst=True)
    with engine.begin() as conn:
        conn.execute(delete(refresh_tokens))
    yield SqlRefreshTokenStore(engine)
    engine.dispose()


def grant(token_hash: str, family: str = "f1", **overrides: object) -> RefreshGrant:
    values: dict[str, object] = {
        "token_hash": token_hash, "family_id": family, "client_id": "app", "principal": principal_to_claim(CITIZEN),
        "scope": "openid offline_access patient/*.rs", "issued_at": NOW, "expires_at": NOW + timedelta(hours=12),
        "subject": "s", "patient": "p1", "encounter": None, "fhir_user": "Patient/p1",
    }
    values.update(overrides)
    return RefreshGrant(**values)  # type: ignore[arg-type]


def test_refresh_store__use_returns_the_grant_and_marks_it_used(store: RefreshTokenStore) -> None:
    _, token_hash = new_refresh_token()
    store.add(grant(token_hash))
    used = store.use(token_hash, now=NOW + timedelta(minutes=5))
    assert used.used_at == NOW + timedelta(minutes=5)
    assert (used.principal, used.scope, used.patient, used.fhir_user) == (
        principal_to_claim(CITIZEN), "openid offline_access patient/*.rs", "p1", "Patient/p1")


def test_refresh_store__rotation_then_reuse_of_the_old_token_revokes_the_family(store: RefreshTokenStore) -> None:
    _, first = new_refresh_token()
    _, second = new_refresh_token()
    store.add(grant(first))
    old = store.use(first, now=NOW)
    store.add(old.successor(second, now=NOW))
    with pytest.raises(RefreshTokenError) as reused:
        store.use(first, now=NOW + timedelta(minutes=1))
    assert reused.value.reason == "reused"
    with pytest.raises(RefreshTokenError) as revoked:
        store.use(second, now=NOW + timedelta(minutes=2))
    assert revoked.value.reason == "revoked"


def test_refresh_store__reuse_leaves_other_families_alone(store: RefreshTokenStore) -> None:
    _, mine = new_refresh_token()
    _, theirs = new_refresh_token()
    store.add(grant(mine, family=new_family_id()))
    store.add(grant(theirs, family=new_family_id()))
    store.use(mine, now=NOW)
    with pytest.raises(RefreshTokenError):
        store.use(mine, now=NOW)
    assert store.use(theirs, now=NOW).token_hash == theirs


def test_refresh_store__an_unknown_or_expired_token_says_so(store: RefreshTokenStore) -> None:
    with pytest.raises(RefreshTokenError) as unknown:
        store.use("0" * 64, now=NOW)
    assert unknown.value.reason == "unknown"
    _, token_hash = new_refresh_token()
    store.add(grant(token_hash, expires_at=NOW + timedelta(minutes=1)))
    with pytest.raises(RefreshTokenError) as expired:
        store.use(token_hash, now=NOW + timedelta(minutes=1))
    assert expired.value.reason == "expired"


def test_refresh_store__a_successor_keeps_the_familys_absolute_expiry(store: RefreshTokenStore) -> None:
    _, first = new_refresh_token()
    _, second = new_refresh_token()
    store.add(grant(first))
    nxt = store.use(first, now=NOW + timedelta(hours=11)).successor(second, now=NOW + timedelta(hours=11))
    assert nxt.expires_at == NOW + timedelta(hours=12) and nxt.used_at is None
    store.add(nxt)
    with pytest.raises(RefreshTokenError, match="expired"):
        store.use(second, now=NOW + timedelta(hours=12, seconds=1))


def test_refresh_store__revoke_family_and_purge(store: RefreshTokenStore) -> None:
    hashes = [new_refresh_token()[1] for _ in range(3)]
    store.add(grant(hashes[0], family="a"))
    store.add(grant(hashes[1], family="a"))
    store.add(grant(hashes[2], family="b", expires_at=NOW + timedelta(minutes=1)))
    assert store.revoke_family("a", now=NOW) == 2
    with pytest.raises(RefreshTokenError, match="revoked"):
        store.use(hashes[1], now=NOW)
    assert store.purge(now=NOW + timedelta(minutes=2)) == 1


def test_refresh_store__of_two_concurrent_uses_exactly_one_wins(store: RefreshTokenStore) -> None:
    _, token_hash = new_refresh_token()
    store.add(grant(token_hash))
    outcomes: list[str] = []

    def use() -> None:
        try:
            store.use(token_hash, now=NOW)
            outcomes.append("ok")
        except RefreshTokenError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
