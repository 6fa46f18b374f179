"""Publish committed changes to the live bus, and hold chat writes to the conversation's rules.

The FHIR server calls `before_commit` inside the transaction and `after_commit` in the
request's worker thread once it has committed. A citizen's message into a closed chat or case
fails in `before_commit` with a 409, so nothing is stored. The live events (version keys, the
units a Task concerns) are worked out there too, on the transaction's own connection: the
request still holds that connection while the commit listeners run, and taking a second one
per write would drain the pool under load. `after_commit` hands the committed ones to the
event loop through a thread-safe queue, which one task drains in order onto the bus, so a
request thread never waits for Redis and one process publishes in the order it committed.
Before the hub's loop runs (demo data at start-up) there is no one to tell: nothing is kept.
A booking (Appointment) is told to the encounters it was booked for the same way, so the
citizen's open case page shows a new time; a booking that rolls back is never told.
https://hl7.org/fhir/R4/communication.html, https://hl7.org/fhir/R4/appointment.html
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref

from sqlalchemy import Connection

from communication.bus import Bus
from communication.chat import ChatRefused, chat_event_code, check_new_message, encounter_of, from_citizen
from communication.events import (
    LiveEvent,
    appointment_events,
    case_events,
    communication_events,
    owner_reference,
    unit_of_encounter,
)
from fhir_api.changes import Change
from fhir_api.outcomes import BadRequest, Conflict
from hub.complaints import complaint_of
from hub.live.store import LiveStore

log = logging.getLogger(__name__)
QUEUE_LIMIT = 100_000  # events waiting for the bus; beyond it they are dropped (clients replay)
LIVE_TYPES = ("Communication", "Task", "Encounter", "Appointment")


class LivePublisher:
    """The FHIR server's write and commit listener for the live layer."""

    def __init__(self, bus: Bus, store: LiveStore) -> None:
        self.bus = bus
        self.store = store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[LiveEvent | None] | None = None
        self._task: asyncio.Task[None] | None = None
        # Events worked out before commit, until the commit listener sends them. Keys are the
        # unit of work's own Change objects: a rolled-back unit's entries go when it is dropped.
        self._pending: weakref.WeakKeyDictionary[Change, list[LiveEvent]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Start draining onto the bus from the running loop."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_LIMIT)
        self._task = asyncio.create_task(self._drain(), name="live-publisher")

    async def stop(self) -> None:
        """Publish what is queued, then stop."""
        if self._queue is not None and self._task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5.0)
        self._loop = self._queue = self._task = None

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            if event is None:
                return
            try:
                await self.bus.publish(event.topic, event.message)
            except Exception:  # the bus is best effort; clients replay from the database
                log.exception("could not publish a live event on %s", event.topic)

    # --- the FHIR server's listeners ----------------------------------------------------------

    def before_commit(self, conn: Connection, changes: list[Change]) -> None:
        """Refuse a new Communication the chat's state does not allow; work out the live events."""
        for change in changes:
            if change.res_type == "Communication" and change.method == "create":
                self._check_chat(conn, change)
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody listens yet (demo data at start-up)
        wanted = [c for c in changes if c.res_type in LIVE_TYPES]
        if wanted:
            # On the transaction's own connection: the request already holds one from the pool.
            found = self.events_by_change(conn, wanted)
            with self._lock:
                self._pending.update(found)

    def _check_chat(self, conn: Connection, change: Change) -> None:
        resource = change.json()
        encounter_id = encounter_of(resource)
        # Only a citizen's message or a chat step has a rule to meet; a clinician's costs nothing.
        if encounter_id is None or not (from_citizen(resource) or chat_event_code(resource)):
            return
        encounter = self.store.read(conn, "Encounter", encounter_id)
        status = encounter.get("status") if encounter else None
        try:
            check_new_message(resource, status, self.store.chat_events(conn, encounter_id))
        except ChatRefused as exc:
            if exc.conflict:
                raise Conflict(str(exc), ("Communication.encounter",)) from None
            raise BadRequest(str(exc), ("Communication.sender",)) from None

    def after_commit(self, changes: list[Change]) -> None:
        """Queue the committed changes' live events for the bus."""
        with self._lock:
            events = [e for c in changes for e in self._pending.pop(c, ())]
        loop, queue = self._loop, self._queue
        if events and loop is not None and queue is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_put_all, queue, events)

    def events_by_change(self, conn: Connection, changes: list[Change]) -> dict[Change, list[LiveEvent]]:
        """Return the live events of each change, on the writing transaction's connection."""
        out: dict[Change, list[LiveEvent]] = {}
        comms = [(c.res_id, c.version) for c in changes if c.res_type == "Communication"]
        seqs = self.store.version_keys(conn, "Communication", comms)
        for change in changes:
            resource = change.json()
            if change.res_type == "Communication":
                seq = seqs.get((change.res_id, change.version))
                out[change] = communication_events(resource, res_id=change.res_id, method=change.method,
                                                   seq=seq) if seq is not None else []
                continue
            previous = self.store.previous(conn, change.res_type, change.res_id, change.version)
            if change.res_type == "Appointment":
                out[change] = appointment_events(resource, res_id=change.res_id, version=change.version,
                                                 method=change.method, booked_for=previous)
                continue
            units = {self._unit(conn, change.res_type, r) for r in (resource, previous) if r}
            out[change] = case_events(change.res_type, resource, res_id=change.res_id, version=change.version,
                                      method=change.method, units={u for u in units if u},
                                      complaint=self._complaint(conn, change.res_type, resource or previous))
        return out

    def _complaint(self, conn: Connection, res_type: str, resource: dict[str, object]) -> dict[str, object] | None:
        """Return the named complaint of the case a Task or Encounter belongs to (a Task reads its Encounter)."""
        if res_type == "Encounter":
            return complaint_of(resource)
        encounter = resource.get("encounter")
        ref = encounter.get("reference") if isinstance(encounter, dict) else None
        if not isinstance(ref, str) or not ref.startswith("Encounter/"):
            return None
        # On the writing connection: an Encounter written in the same unit of work is seen as written.
        return complaint_of(self.store.read(conn, "Encounter", ref.split("/", 1)[1]))

    def _unit(self, conn: Connection, res_type: str, resource: dict[str, object]) -> str | None:
        if res_type == "Encounter":
            return unit_of_encounter(resource)
        return self.store.unit_of_owner(conn, owner_reference(resource))


def _put_all(queue: asyncio.Queue[LiveEvent | None], events: list[LiveEvent]) -> None:
    for event in events:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("the live queue is full; dropping an event for %s (clients replay)", event.topic)
