"""Implement the live bus over Redis pub/sub, so WebSockets on any API replica get every event.

Each process holds one publishing client and one subscriber connection; local subscribers are
fanned out by an `InProcessBus`, so a thousand WebSockets on a topic cost one Redis
subscription, not a thousand connections. A topic is SUBSCRIBEd when its first local
subscriber arrives and `subscribe` returns only once Redis has confirmed it, so nothing
published after that is missed. If the connection drops, every local subscription ends with
`SubscriptionLost` (clients reconnect and replay from the database) and the reader reconnects.
https://redis.io/docs/latest/develop/interact/pubsub/
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from communication.bus import DEFAULT_QUEUE_SIZE, InProcessBus, Message, Subscription, SubscriptionLost

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "ingang:live:"
SUBSCRIBE_TIMEOUT_S = 5.0
RECONNECT_DELAY_S = 0.5


class RedisBus:
    """Publish to Redis channels and deliver what arrives on them to this process's subscribers."""

    def __init__(self, url: str, *, queue_size: int = DEFAULT_QUEUE_SIZE, prefix: str = CHANNEL_PREFIX,
                 client_name: str = "ingang-live") -> None:
        self.url = url
        self.prefix = prefix
        self.client_name = client_name  # shows in CLIENT LIST, so operators see whose connections these are
        self.local = InProcessBus(queue_size)
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect and start reading; fails fast when Redis does not answer."""
        self._client = redis.Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=30,
                                            client_name=self.client_name)
        try:
            await self._client.ping()  # type: ignore[misc]  # redis types ping for sync and async clients
            await self._open_pubsub()
        except (RedisError, OSError) as exc:
            # The URL may carry a password: name the setting, not its value.
            raise RuntimeError(f"the live bus cannot reach Redis at INGANG_LIVE_REDIS_URL: {type(exc).__name__}") from None
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def close(self) -> None:
        """Stop reading, end every subscription and disconnect."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await self._reader
            self._reader = None
        self.local.drop_all()
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.aclose()
            self._pubsub = None
        if self._client is not None:
            with contextlib.suppress(RedisError):
                await self._client.aclose()
            self._client = None

    async def publish(self, topic: str, message: Message) -> None:
        """PUBLISH the message as JSON on the topic's channel."""
        if self._client is None:
            raise RuntimeError("the Redis bus is not started")
        await self._client.publish(self.prefix + topic, orjson.dumps(message))

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Open a local subscription, SUBSCRIBing the channel first if this process has none."""
        return self._subscribe(topic)

    @asynccontextmanager
    async def _subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = self.local.add(topic)
        try:
            async with self._lock:
                if topic not in self._confirmed:
                    await self._send_subscribe(topic)
                confirmed = self._confirmed[topic]
            try:
                await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_S)
            except TimeoutError:
                raise SubscriptionLost(f"Redis did not confirm the subscription to {topic}") from None
            yield sub
        finally:
            if self.local.remove(sub):
                async with self._lock:
                    if not self.local.has_subscribers(topic) and self._confirmed.pop(topic, None) is not None:
                        with contextlib.suppress(RedisError, AttributeError):
                            await self._pubsub.unsubscribe(self.prefix + topic)

    async def _send_subscribe(self, topic: str) -> None:
        self._confirmed[topic] = asyncio.Event()
        try:
            await self._pubsub.subscribe(self.prefix + topic)
        except (RedisError, AttributeError, OSError):
            self._confirmed.pop(topic, None)
            raise SubscriptionLost(f"could not subscribe to {topic} on Redis") from None

    async def _open_pubsub(self) -> None:
        assert self._client is not None
        self._pubsub = self._client.pubsub()
        # A subscriber connection with no channel yet: subscribe to a private one so the
        # connection is open and the reader has something to wait on.
        await self._pubsub.subscribe(self.prefix + "_")

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("the Redis bus lost its connection (%s); live clients will reconnect", exc)
                await self._reconnect()
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str) or not channel.startswith(self.prefix):
            return
        topic = channel[len(self.prefix):]
        kind = message.get("type")
        if kind == "subscribe":
            event = self._confirmed.get(topic)
            if event is not None:
                event.set()
        elif kind == "message":
            self.local.deliver(topic, message["data"])

    async def _reconnect(self) -> None:
        self.local.drop_all()
        async with self._lock:
            self._confirmed.clear()
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            while True:
                try:
                    await self._open_pubsub()
                    return
                except (RedisError, OSError):
                    await asyncio.sleep(RECONNECT_DELAY_S)
