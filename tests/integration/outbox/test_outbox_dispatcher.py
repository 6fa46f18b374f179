"""The outbox on SQLite and PostgreSQL: enqueue in the caller's transaction, claim, retry, dead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from hub import database
from hub.outbox import GiveUp, Outbox, OutboxMessage, RetryLater, RetryPolicy, enqueue, store
from hub.outbox.table import outbox_messages, utcnow
from tests.conftest import hub_settings


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = database.make_engine(hub_settings(database_url))
    yield engine
    engine.dispose()


def _outbox(engine: Engine, **policy: float) -> Outbox:
    values = {"max_attempts": 3, "backoff_base": 0.0, "backoff_cap": 0.0, "lease": 30.0}
    values.update(policy)
    return Outbox(engine, RetryPolicy(**values))  # type: ignore[arg-type]


def _status(engine: Engine, message_id: int) -> tuple[str, int, str | None, str | None]:
    with engine.connect() as conn:
        row = store.get(conn, message_id)
    assert row is not None
    return row.status, row.attempts, row.receipt, row.last_error


def _only_id(engine: Engine) -> int:
    with engine.connect() as conn:
        rows = store.find(conn)
    assert len(rows) == 1
    return int(rows[0].id)


def test_enqueue__same_key_twice_is_one_message(engine: Engine) -> None:
    with engine.begin() as conn:
        first = enqueue(conn, kind="k", key="a", payload={"n": 1})
        second = enqueue(conn, kind="k", key="a", payload={"n": 2})
        other_kind = enqueue(conn, kind="other", key="a", payload={})
    assert (first, second, other_kind) == (True, False, True)
    with engine.connect() as conn:
        rows = store.find(conn, kind="k")
    assert [r.payload for r in rows] == ['{"n":1}']


def test_enqueue__rolled_back_transaction_leaves_no_message(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
        raise RuntimeError("the state change failed")
    with engine.connect() as conn:
        assert store.find(conn) == []


def test_deliver_due__handler_gets_message_and_receipt_is_kept(engine: Engine) -> None:
    seen: list[OutboxMessage] = []
    outbox = _outbox(engine)
    outbox.register("k", lambda m: seen.append(m) or "remote-1")
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={"x": [1, 2]})
    outcomes = outbox.deliver_due()
    assert [o.status for o in outcomes] == ["delivered"]
    assert [(m.key, m.payload, m.attempts) for m in seen] == [("a", {"x": [1, 2]}, 1)]
    assert _status(engine, _only_id(engine))[:3] == ("delivered", 1, "remote-1")
    assert outbox.deliver_due() == []


def test_deliver_due__not_before_holds_a_message_back(engine: Engine) -> None:
    outbox = _outbox(engine)
    outbox.register("k", lambda m: None)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="later", payload={}, not_before=utcnow() + timedelta(hours=1))
    assert outbox.deliver_due() == []


def test_retry_later__message_waits_for_backoff_then_goes_dead_after_max_attempts(engine: Engine) -> None:
    outbox = _outbox(engine, backoff_base=3600.0, backoff_cap=7200.0)

    def down(_m: OutboxMessage) -> str:
        raise RetryLater("503 from receiver")

    outbox.register("k", down)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
    message_id = _only_id(engine)
    [first] = outbox.deliver_due()
    assert first.status == "retry" and first.retry_in is not None and 1800 <= first.retry_in <= 3600
    assert outbox.deliver_due() == []  # not due again until the backoff has passed
    for expected in ("retry", "dead"):
        with engine.begin() as conn:
            conn.execute(update(outbox_messages).values(next_attempt_at=utcnow()))
        assert [o.status for o in outbox.deliver_due()] == [expected]
    assert _status(engine, message_id) == ("dead", 3, None, "503 from receiver")


def test_give_up__message_is_dead_at_once(engine: Engine) -> None:
    outbox = _outbox(engine)

    def reject(_m: OutboxMessage) -> str:
        raise GiveUp("400: the receiver rejects the payload")

    outbox.register("k", reject)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
    assert [o.status for o in outbox.deliver_due()] == ["dead"]
    status, attempts, _, error = _status(engine, _only_id(engine))
    assert (status, attempts) == ("dead", 1) and error is not None and "rejects" in error


def test_unexpected_exception__counts_as_transient(engine: Engine) -> None:
    outbox = _outbox(engine)

    def broken(_m: OutboxMessage) -> str:
        raise ConnectionResetError("peer reset")

    outbox.register("k", broken)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
    assert [o.status for o in outbox.deliver_due()] == ["retry"]
    assert _status(engine, _only_id(engine))[0] == "queued"


def test_lease__message_of_a_dead_worker_is_due_again_after_the_lease(engine: Engine) -> None:
    outbox = _outbox(engine, lease=60.0)
    delivered: list[str] = []
    outbox.register("k", lambda m: delivered.append(m.key) or None)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
    # A worker claims the message and dies before settling it.
    with engine.begin() as conn:
        [held] = store.claim_due(conn, limit=10, lease=timedelta(seconds=60))
    assert outbox.deliver_due() == []
    with engine.begin() as conn:
        conn.execute(update(outbox_messages).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert [o.status for o in outbox.deliver_due()] == ["delivered"]
    assert _status(engine, held.message.id)[:2] == ("delivered", 2)
    # The first worker's late failure does not undo the delivery.
    with engine.begin() as conn:
        assert not store.record_failure(conn, held, "late", retry_at=utcnow())
    assert delivered == ["a"]


def test_claim__two_workers_never_hold_the_same_message(engine: Engine) -> None:
    with engine.begin() as conn:
        for i in range(10):
            enqueue(conn, kind="k", key=str(i), payload={})
    lease = timedelta(seconds=60)
    with engine.begin() as conn:
        first = store.claim_due(conn, limit=6, lease=lease)
    with engine.begin() as conn:
        second = store.claim_due(conn, limit=6, lease=lease)
    with engine.begin() as conn:
        by_id = store.claim_one(conn, first[0].message.id, lease=lease)
    assert len(first) == 6 and len(second) == 4 and by_id is None
    assert {c.message.id for c in first}.isdisjoint({c.message.id for c in second})


def test_unknown_kind__is_left_for_a_process_that_knows_it(engine: Engine) -> None:
    outbox = _outbox(engine)
    with engine.begin() as conn:
        enqueue(conn, kind="unknown", key="a", payload={})
    assert outbox.deliver_due() == []
    assert [o.status for o in [outbox.deliver_one(_only_id(engine))] if o] == ["dead"]


def test_requeue__dead_message_is_delivered_again(engine: Engine) -> None:
    outbox = _outbox(engine, max_attempts=1)
    calls: list[int] = []

    def flaky(m: OutboxMessage) -> str:
        calls.append(m.attempts)
        if len(calls) == 1:
            raise RetryLater("down")
        return "ok"

    outbox.register("k", flaky)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
    assert [o.status for o in outbox.deliver_due()] == ["dead"]
    with engine.begin() as conn:
        assert store.requeue(conn, [_only_id(engine)]) == 1
    assert [o.status for o in outbox.deliver_due()] == ["delivered"]
    assert calls == [1, 1]


def test_purge__removes_only_old_delivered_messages(engine: Engine) -> None:
    outbox = _outbox(engine)
    outbox.register("k", lambda m: None)
    with engine.begin() as conn:
        enqueue(conn, kind="k", key="a", payload={})
        enqueue(conn, kind="k", key="b", payload={}, not_before=utcnow() + timedelta(days=1))
    outbox.deliver_due()
    assert outbox.purge(timedelta(days=1)) == 0
    assert outbox.purge(timedelta(seconds=-1)) == 1
    with engine.connect() as conn:
        assert [r.key for r in store.find(conn)] == ["b"]


def test_counts__report_each_status_and_the_oldest_waiting_age(engine: Engine) -> None:
    outbox = _outbox(engine, max_attempts=1)

    def reject(_m: OutboxMessage) -> str:
        raise GiveUp("no")

    outbox.register("bad", reject)
    with engine.begin() as conn:
        enqueue(conn, kind="bad", key="a", payload={})
        enqueue(conn, kind="later", key="b", payload={})
    outbox.deliver_due()
    with engine.connect() as conn:
        counts = store.counts(conn, now=utcnow() + timedelta(seconds=30))
    assert counts.by_status["dead"] == 1 and counts.by_status["queued"] == 1
    assert counts.failed == 1 and counts.oldest_queued_age >= 30


def test_deliver_due__four_dispatchers_at_once_deliver_each_message_once(engine: Engine) -> None:
    import threading

    with engine.begin() as conn:
        for i in range(120):
            enqueue(conn, kind="k", key=f"m{i}", payload={})
    seen: list[str] = []
    lock = threading.Lock()

    def record(m: OutboxMessage) -> str:
        with lock:
            seen.append(m.key)
        return "ok"

    outboxes = [_outbox(engine) for _ in range(4)]
    for ob in outboxes:
        ob.register("k", record)

    def drain(ob: Outbox) -> None:
        while ob.deliver_due(limit=5):
            pass

    threads = [threading.Thread(target=drain, args=(ob,)) for ob in outboxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(seen) == sorted(f"m{i}" for i in range(120))
    with engine.connect() as conn:
        assert store.counts(conn).by_status["delivered"] == 120


def test_inline_dispatcher__delivers_after_a_wake_and_stops_when_asked(engine: Engine) -> None:
    import threading

    from hub.outbox.inline import InlineDispatcher

    outbox = _outbox(engine)
    arrived = threading.Event()
    outbox.register("k", lambda m: arrived.set() or "ok")
    dispatcher = InlineDispatcher(outbox, poll=30.0)  # only a wake-up can make it look before 30 s
    dispatcher.start()
    try:
        with engine.begin() as conn:
            enqueue(conn, kind="k", key="a", payload={})
        outbox.wake_committed()
        assert arrived.wait(20)
    finally:
        dispatcher.stop()
    assert dispatcher._thread is None
