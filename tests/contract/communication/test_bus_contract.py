"""One contract for the live bus, run on the in-process bus and on Redis pub/sub.

Each test gets two handles on one bus: the same object in process, two `RedisBus` instances
(as two API replicas would hold) on Redis, with a channel prefix of its own so parallel runs
never hear each other. Redis tests skip when no Redis answers, and fail in CI.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from communication.bus import Bus, InProcessBus, Message, Subscription, SubscriptionLost
from tests.aio import run_in_own_loop
from tests.processes import REDIS_URL, require_redis

Pair = Callable[[int], Awaitable[tuple[Bus, Bus]]]


@pytest.fixture(params=["in-process", "redis"])
def make_pair(request: pytest.FixtureRequest) -> Pair:
    """Return a factory of two started handles on one bus, with the given queue size."""
    if request.param == "in-process":
        async def in_process(queue_size: int) -> tuple[Bus, Bus]:
            bus = InProcessBus(queue_size)
            return bus, bus
        return in_process
    require_redis()
    from hub.live.redis_bus import RedisBus

    prefix = f"ingang:test:{uuid.uuid4().hex}:"

    async def on_redis(queue_size: int) -> tuple[Bus, Bus]:
        first, second = RedisBus(REDIS_URL, queue_size=queue_size, prefix=prefix), RedisBus(REDIS_URL, prefix=prefix)
        await first.start()
        await second.start()
        return first, second
    return on_redis


async def _take(sub: Subscription, n: int, timeout: float = 5.0) -> list[Message]:
    out: list[Message] = []

    async def collect() -> None:
        async for message in sub:
            out.append(message)
            if len(out) == n:
                return
    await asyncio.wait_for(collect(), timeout)
    return out


async def _nothing_more(sub: Subscription, wait: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(_take(sub, 1, timeout=wait), wait)
    except TimeoutError:
        return True
    return False


def run(make_pair: Pair, body: Callable[[Bus, Bus], Awaitable[None]], queue_size: int = 1000) -> None:
    async def main() -> None:
        first, second = await make_pair(queue_size)
        try:
            await body(first, second)
        finally:
            await first.close()
            await second.close()
    run_in_own_loop(main())


def test_bus__a_subscriber_gets_what_is_published_after_it_subscribed_in_order(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("encounter/e1") as sub:
            for n in range(50):
                await sender.publish("encounter/e1", {"n": n, "text": "hej å ä ö"})
            got = await _take(sub, 50)
        assert [m["n"] for m in got] == list(range(50))
        assert got[0]["text"] == "hej å ä ö"
    run(make_pair, body)


def test_bus__other_topics_are_not_delivered(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("encounter/e1") as sub:
            await sender.publish("encounter/e2", {"n": 1})
            await sender.publish("waiting-room/e1", {"n": 2})
            await sender.publish("encounter/e1", {"n": 3})
            assert [m["n"] for m in await _take(sub, 1)] == [3]
            assert await _nothing_more(sub)
    run(make_pair, body)


def test_bus__every_subscriber_of_a_topic_gets_each_message_once(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("waiting-room/u") as a, sender.subscribe("waiting-room/u") as b:
            await sender.publish("waiting-room/u", {"n": 1})
            await listener.publish("waiting-room/u", {"n": 2})
            assert [m["n"] for m in await _take(a, 2)] == [1, 2]
            assert [m["n"] for m in await _take(b, 2)] == [1, 2]
            assert await _nothing_more(a) and await _nothing_more(b)
    run(make_pair, body)


def test_bus__leaving_and_subscribing_again_still_delivers(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("encounter/e1"):
            pass
        async with listener.subscribe("encounter/e1") as sub:
            await sender.publish("encounter/e1", {"n": 7})
            assert [m["n"] for m in await _take(sub, 1)] == [7]
    run(make_pair, body)


def test_bus__a_subscriber_that_falls_behind_is_told_it_lost_the_stream(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("encounter/slow") as sub:
            for n in range(10):
                await sender.publish("encounter/slow", {"n": n})
            await asyncio.sleep(0.3)  # let Redis deliver before reading
            with pytest.raises(SubscriptionLost):
                await _take(sub, 10)
    run(make_pair, body, queue_size=3)


def test_bus__closing_ends_open_subscriptions(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        async with listener.subscribe("encounter/e1") as sub:
            await listener.close()
            with pytest.raises(SubscriptionLost):
                await _take(sub, 1)
    run(make_pair, body)


def test_bus__messages_are_copies_the_publisher_cannot_change(make_pair: Pair) -> None:
    async def body(listener: Bus, sender: Bus) -> None:
        payload: dict[str, Any] = {"items": [1]}
        async with listener.subscribe("encounter/e1") as sub:
            await sender.publish("encounter/e1", payload)
            payload["items"].append(2)
            assert (await _take(sub, 1))[0] == {"items": [1]}
    run(make_pair, body)


def test_in_process_bus__publishing_from_another_thread_reaches_the_loop() -> None:
    async def main() -> list[Message]:
        bus = InProcessBus()
        async with bus.subscribe("encounter/e1") as sub:
            await asyncio.to_thread(lambda: [bus.publish_threadsafe("encounter/e1", {"n": n}) for n in range(3)])
            return await _take(sub, 3)
    assert [m["n"] for m in run_in_own_loop(main())] == [0, 1, 2]


def test_redis_bus__an_unreachable_redis_stops_start_up_without_showing_the_password() -> None:
    from hub.live.redis_bus import RedisBus

    bus = RedisBus("redis://:hemligt@127.0.0.1:1/0")
    with pytest.raises(RuntimeError) as failed:
        run_in_own_loop(bus.start())
    assert "INGANG_LIVE_REDIS_URL" in str(failed.value) and "hemligt" not in str(failed.value)
    run_in_own_loop(bus.close())


def test_redis_bus__a_dropped_connection_ends_subscriptions_and_the_bus_recovers() -> None:
    require_redis()
    import redis

    from hub.live.redis_bus import RedisBus

    name = f"ingang-test-{uuid.uuid4().hex[:12]}"
    prefix = f"ingang:test:{uuid.uuid4().hex}:"

    def kill_subscriber_connections() -> int:
        admin = redis.Redis.from_url(REDIS_URL)
        ours = [c["id"] for c in admin.client_list() if c.get("name") == name and int(c.get("sub", 0)) > 0]
        for client_id in ours:
            admin.client_kill_filter(_id=client_id)
        admin.close()
        return len(ours)

    async def main() -> list[Message]:
        bus, sender = RedisBus(REDIS_URL, prefix=prefix, client_name=name), RedisBus(REDIS_URL, prefix=prefix)
        await bus.start()
        await sender.start()
        try:
            async with bus.subscribe("encounter/e1") as sub:
                assert kill_subscriber_connections() == 1
                with pytest.raises(SubscriptionLost):
                    await _take(sub, 1)
            for _attempt in range(50):  # the reader reconnects in the background
                try:
                    async with bus.subscribe("encounter/e1") as sub:
                        await sender.publish("encounter/e1", {"n": 1})
                        return await _take(sub, 1)
                except SubscriptionLost:
                    await asyncio.sleep(0.1)
            raise AssertionError("the bus did not recover")
        finally:
            await bus.close()
            await sender.close()
    assert [m["n"] for m in run_in_own_loop(main())] == [1]
