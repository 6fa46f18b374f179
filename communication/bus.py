"""Carry live events between the API processes and the WebSockets they hold: the bus port.

A chat message written through one API replica must reach a citizen whose WebSocket is held by
another, so live pushes go over a bus with topics (`encounter/{id}`, `waiting-room/{org-id}`).
The embedded default runs one process and uses `InProcessBus`; several replicas use Redis
pub/sub (hub/live/redis_bus.py), which fans out locally through an `InProcessBus` too.

The bus is best effort, like pub/sub itself: what is stored is the truth, and a subscriber that
falls behind or loses its connection gets `SubscriptionLost`, so its client reconnects and
replays what it missed from the database. `publish_threadsafe` may be called from any thread;
each subscription delivers on the event loop it was opened on.
https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

Message = Mapping[str, Any]
DEFAULT_QUEUE_SIZE = 1000


def encounter_topic(encounter_id: str) -> str:
    """Name the topic of one encounter's conversation (chat, receipts, signalling, case state)."""
    return f"encounter/{encounter_id}"


def waiting_room_topic(organization_id: str) -> str:
    """Name the topic of one care unit's waiting room."""
    return f"waiting-room/{organization_id}"


class SubscriptionLost(Exception):
    """The bus could not keep delivering to a subscription: reconnect and replay from storage."""


class Subscription(Protocol):
    """Messages on one topic, in the order they were published, from subscribing until closed."""

    def __aiter__(self) -> AsyncIterator[Message]: ...


class Bus(Protocol):
    """Publish to topics and subscribe to them; messages are JSON objects."""

    async def start(self) -> None:
        """Connect; called once on the event loop that will use the bus."""
        ...

    async def close(self) -> None:
        """Disconnect and end every open subscription."""
        ...

    async def publish(self, topic: str, message: Message) -> None:
        """Send a message to everyone subscribed to the topic now, on any process."""
        ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Open a subscription; once entered, every message published after that is delivered."""
        ...


class Frame(dict[str, Any]):
    """A delivered message, with the JSON text it arrived as, so it can be forwarded without re-encoding.

    One object goes to every local subscriber of a topic: treat it as read-only.
    """

    encoded: str = ""


_LOST = object()  # the sentinel a queue carries when its subscription was dropped


class LocalSubscription:
    """One subscriber's queue on its own event loop."""

    def __init__(self, topic: str, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.topic = topic
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=size + 1)  # one slot kept for _LOST
        self.size = size
        self.lost = False

    def offer(self, message: Any) -> None:
        """Queue a message on the subscriber's loop (call on that loop); drop a slow subscriber."""
        if self.lost:
            return
        if self.queue.qsize() >= self.size:
            self.drop()
            return
        self.queue.put_nowait(message)

    def drop(self) -> None:
        """End the subscription with SubscriptionLost (call on the subscriber's loop)."""
        if not self.lost:
            self.lost = True
            self.queue.put_nowait(_LOST)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            item = await self.queue.get()
            if item is _LOST:
                raise SubscriptionLost(f"the live connection fell behind or was lost on {self.topic}")
            yield item


class InProcessBus:
    """The bus inside one process: topics are dicts of subscriber queues.

    Messages are encoded to JSON on publish, as on Redis, so a subscriber never sees an object
    the publisher may still change, and whatever works here works across processes.
    """

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subs: dict[str, set[LocalSubscription]] = {}
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """End every subscription."""
        self.drop_all()

    async def publish(self, topic: str, message: Message) -> None:
        """Deliver to this process's subscribers of the topic."""
        self.deliver(topic, json.dumps(message, separators=(",", ":")))

    def publish_threadsafe(self, topic: str, message: Message) -> None:
        """Deliver from any thread; the same as `publish` without an event loop."""
        self.deliver(topic, json.dumps(message, separators=(",", ":")))

    def deliver(self, topic: str, encoded: str | bytes) -> None:
        """Hand an encoded message to every local subscriber of the topic, each on its own loop."""
        with self._lock:
            subs = list(self._subs.get(topic, ()))
        if not subs:
            return
        message = Frame(json.loads(encoded))
        message.encoded = encoded if isinstance(encoded, str) else encoded.decode("utf-8")
        for sub in subs:
            _call_on(sub.loop, sub.offer, message)

    def has_subscribers(self, topic: str) -> bool:
        """Tell whether anyone in this process listens to the topic."""
        with self._lock:
            return bool(self._subs.get(topic))

    def drop_all(self) -> None:
        """End every subscription with SubscriptionLost (their clients reconnect and replay)."""
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            _call_on(sub.loop, sub.drop)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Open a subscription on the running event loop."""
        return self._subscribe(topic)

    @asynccontextmanager
    async def _subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = self.add(topic)
        try:
            yield sub
        finally:
            self.remove(sub)

    def add(self, topic: str) -> LocalSubscription:
        """Register a subscriber on the running loop; returns it (for buses built on this one)."""
        sub = LocalSubscription(topic, asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            self._subs.setdefault(topic, set()).add(sub)
        return sub

    def remove(self, sub: LocalSubscription) -> bool:
        """Unregister a subscriber; True when it was the topic's last one in this process."""
        with self._lock:
            group = self._subs.get(sub.topic)
            if group is None:
                return False
            group.discard(sub)
            if not group:
                del self._subs[sub.topic]
                return True
            return False


def _call_on(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    """Run `fn(*args)` on `loop`: directly when already on it, else through its thread-safe queue."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(*args)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(fn, *args)
