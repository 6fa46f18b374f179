"""Serve the live WebSockets: an encounter's conversation, and a care unit's waiting room.

`/live/encounters/{id}` carries JSON frames both ways. The server says `hello` (who you are,
the chat's state, ICE servers), replays the conversation after `since` (the last `seq` the
client saw), says `replayed`, then pushes live: messages, receipts, chat steps, case changes,
and the other party's WebRTC signalling. The client sends `send`, `delivered`, `read`,
`end-chat`/`open-chat` (clinician), `offer`/`answer`/`ice-candidate`/`hang-up`, and `ping`.
The subscription opens before the replay reads the database, and replayed and live messages
are told apart by `seq`, so a reconnect neither loses nor repeats a message.

The access token comes as `?access_token=` or as the WebSocket subprotocol pair
`bearer, <token>`. A socket that may not be opened is accepted and closed at once with a code
and a reason: 4401 (no valid token, or it expired), 4403 (not a party), 4404 (no such
encounter), 4400 (a bad request), 4409 (lost the live stream: reconnect with `since`).
https://hl7.org/fhir/R4/communication.html, https://www.rfc-editor.org/rfc/rfc6455#section-7.4
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from cases.principals import Clinician
from communication.bus import Bus, Frame, SubscriptionLost, encounter_topic, waiting_room_topic
from communication.events import communication_events
from communication.signalling import SIGNAL_TYPES, SignalRefused, signal
from fhir_api.outcomes import FhirError, Forbidden, NotFound, Unauthorized
from hub.access.caller import Caller, TokenVerifier
from hub.access.resolve import org_id
from hub.live.parties import CLINICIAN, Conversations, Party

log = logging.getLogger(__name__)
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 404: 4404, 409: 4409}
MAX_FRAME_CHARS = 128 * 1024


class Closed(Exception):
    """End the socket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def token_of(ws: WebSocket) -> tuple[str | None, str | None]:
    """Return the access token and the subprotocol to accept (`bearer` when it came that way)."""
    token = ws.query_params.get("access_token")
    if token:
        return token, None
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(offered) >= 2 and offered[0].lower() in ("bearer", "access_token"):
        return offered[1], offered[0]
    return None, None


class Session:
    """What one socket knows about its caller: the token, its expiry, and a fresh Caller per action."""

    def __init__(self, verifier: TokenVerifier, token: str, address: str) -> None:
        self.verifier = verifier
        self.token = token
        self.address = address
        verified = verifier.verify_authorization(f"Bearer {token}", now=datetime.now(UTC))
        self.principal = verified.principal
        self.expires_at: datetime | None = getattr(verified, "expires_at", None)
        self._verified = verified

    def caller(self) -> Caller:
        """Return a Caller for one action, so each action's access is decided afresh."""
        self.check()
        v = self._verified
        return Caller(v.principal, v.scopes, v.patient, self.address)

    def check(self) -> None:
        """Refuse to go on once the token has expired."""
        if self.expires_at is not None and datetime.now(UTC) >= self.expires_at:
            raise Closed(4401, "The access token has expired; connect again with a new one")


class LiveSockets:
    """The WebSocket endpoints, over the bus and the conversations."""

    def __init__(self, bus: Bus, conversations: Conversations, verifier: TokenVerifier,
                 ice: Callable[[str], list[dict[str, Any]]]) -> None:
        self.bus = bus
        self.conversations = conversations
        self.verifier = verifier
        self.ice = ice

    async def _open(self, ws: WebSocket) -> Session | None:
        token, subprotocol = token_of(ws)
        await ws.accept(subprotocol=subprotocol)
        if not token:
            await _close(ws, 4401, "No access token: pass ?access_token= or the subprotocols 'bearer, <token>'")
            return None
        try:
            return Session(self.verifier, token, ws.client.host if ws.client else "unknown")
        except Unauthorized as exc:
            await _close(ws, 4401, exc.diagnostics)
            return None

    async def encounter(self, ws: WebSocket) -> None:
        """Serve one party's connection to an encounter's conversation."""
        session = await self._open(ws)
        if session is None:
            return
        encounter_id = ws.path_params["encounter_id"]
        raw_since = ws.query_params.get("since", "0")
        try:
            if not raw_since.isdigit():
                raise Closed(4400, "'since' must be the last seq seen, a whole number")
            party = await _call(self.conversations.admit, session.caller(), encounter_id, refusal_closes=True)
            await Conversation(self, ws, session, party).run(int(raw_since))
        except Closed as closed:
            await _close(ws, closed.code, closed.reason)

    async def waiting_room(self, ws: WebSocket) -> None:
        """Serve a clinician's view of their unit's waiting room: case changes as they happen."""
        session = await self._open(ws)
        if session is None:
            return
        unit = ws.path_params["organization_id"]
        try:
            actor = session.principal
            if not isinstance(actor, Clinician) or not actor.commission.for_care:
                raise Closed(4403, "Only clinicians of the unit, under a commission for care, see its waiting room")
            own = await run_in_threadpool(self._unit_of, actor)
            if own != unit:
                raise Closed(4403, "You can follow only the waiting room of the unit you work at")
            sender = Sender(ws)
            async with self.bus.subscribe(waiting_room_topic(unit)) as sub:
                await sender.send({"type": "hello", "unit": unit})
                reader = asyncio.create_task(_drain_client(ws, session, sender))
                try:
                    async for message in _until(sub, reader):
                        session.check()
                        await sender.send(message)
                finally:
                    reader.cancel()
                    with contextlib.suppress(BaseException):
                        await reader
        except SubscriptionLost as exc:
            await _close(ws, 4409, str(exc))
        except Closed as closed:
            await _close(ws, closed.code, closed.reason)
        except WebSocketDisconnect:
            return

    def _unit_of(self, clinician: Clinician) -> str | None:
        with self.conversations.server.engine.connect() as conn:
            return org_id(conn, clinician.commission.care_unit_hsa_id)


class Sender:
    """Send frames one at a time: the reader and the pusher share the socket."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()

    async def send(self, frame: Mapping[str, Any]) -> None:
        """Send one JSON frame; a bus message as it arrived, without encoding it again per socket."""
        text = frame.encoded if isinstance(frame, Frame) and frame.encoded else json.dumps(
            frame, separators=(",", ":"), ensure_ascii=False)
        async with self.lock:
            await self.ws.send_text(text)


class Conversation:
    """One party's open socket on one encounter."""

    def __init__(self, sockets: LiveSockets, ws: WebSocket, session: Session, party: Party) -> None:
        self.sockets = sockets
        self.conversations = sockets.conversations
        self.ws = ws
        self.session = session
        self.party = party
        self.sender = Sender(ws)
        self.seen: set[int] = set()

    async def run(self, since: int) -> None:
        """Subscribe, replay, then relay both ways until either side ends."""
        try:
            async with self.sockets.bus.subscribe(encounter_topic(self.party.encounter_id)) as sub:
                state = await _call(self.conversations.chat_state, self.party)
                await self.sender.send({
                    "type": "hello", "role": self.party.role, "encounter": self.party.encounter_id,
                    "me": self.party.me, "other": self.party.other, "chat": state,
                    "iceServers": self.sockets.ice(self.party.me)})
                last = await self.replay(since)
                await self.sender.send({"type": "replayed", "seq": last})
                reader = asyncio.create_task(self.read())
                try:
                    async for message in _until(sub, reader):
                        await self.push(message)
                finally:
                    reader.cancel()
                    with contextlib.suppress(BaseException):
                        await reader
        except SubscriptionLost as exc:
            raise Closed(4409, f"{exc}; connect again with since=<last seq>") from None
        except WebSocketDisconnect:
            return

    async def replay(self, since: int) -> int:
        """Send what was written after `since`, oldest first; return the last seq sent."""
        store, encounter_id = self.conversations.store, self.party.encounter_id

        def load() -> list[Any]:
            with self.conversations.server.engine.connect() as conn:
                return store.replay(conn, encounter_id, since)
        last = since
        for version in await run_in_threadpool(load):
            for event in communication_events(version.resource, res_id=version.res_id, method=version.method,
                                              seq=version.seq):
                self.seen.add(version.seq)
                await self.sender.send(event.message)
            last = max(last, version.seq)
        return last

    async def push(self, message: Mapping[str, Any]) -> None:
        """Forward one bus message to this party, if it is for them and not sent already."""
        self.session.check()
        kind = message.get("type")
        if kind == "signal":
            if message.get("from") != self.party.role:
                await self.sender.send(message["signal"])
            return
        seq = message.get("seq")
        if isinstance(seq, int):
            if seq in self.seen:
                return
            self.seen.add(seq)
        if (kind == "task" and self.party.role == CLINICIAN
                and not await run_in_threadpool(self.conversations.still_party, self.session.caller(), self.party)):
            await self.sender.send(message)
            raise Closed(4403, "You no longer hold this case")
        await self.sender.send(message)

    async def read(self) -> None:
        """Carry out what the client sends, answering each frame with an ack or an error."""
        while True:
            raw = await self.ws.receive_text()
            ref: Any = None
            try:
                if len(raw) > MAX_FRAME_CHARS:
                    raise _Refused(400, f"A frame can be at most {MAX_FRAME_CHARS} characters")
                try:
                    frame = json.loads(raw)
                except ValueError:
                    raise _Refused(400, "A frame must be a JSON object") from None
                if not isinstance(frame, dict):
                    raise _Refused(400, "A frame must be a JSON object")
                ref = frame.get("ref")
                await self.act(frame, ref)
            except _Refused as exc:
                await self.sender.send({"type": "error", "ref": ref, "status": exc.status, "message": str(exc)})
            except FhirError as exc:
                await self.sender.send({"type": "error", "ref": ref, "status": exc.status,
                                        "message": exc.diagnostics, "outcome": exc.outcome()})

    async def act(self, frame: dict[str, Any], ref: Any) -> None:
        """Do what one client frame asks."""
        kind = frame.get("type")
        party = self.party
        if kind == "ping":
            await self.sender.send({"type": "pong", "ref": ref})
        elif kind == "send":
            stored = await _call(self.conversations.send, self.session.caller(), party, frame.get("text"))
            await self.sender.send({"type": "ack", "ref": ref, "id": stored.get("id")})
        elif kind in ("delivered", "read"):
            self.session.check()
            await _call(self.conversations.receipt, party, frame.get("id"), kind)
            await self.sender.send({"type": "ack", "ref": ref, "id": frame.get("id")})
        elif kind in ("end-chat", "open-chat"):
            code = "chat-ended" if kind == "end-chat" else "chat-opened"
            stored = await _call(self.conversations.chat_step, self.session.caller(), party, code)
            await self.sender.send({"type": "ack", "ref": ref, "id": stored.get("id")})
        elif kind in SIGNAL_TYPES:
            self.session.check()
            try:
                relayed = signal(frame, from_role=party.role)
            except SignalRefused as exc:
                raise _Refused(400, str(exc)) from None
            await self.sockets.bus.publish(encounter_topic(party.encounter_id),
                                           {"type": "signal", "from": party.role, "signal": relayed})
            await self.sender.send({"type": "ack", "ref": ref})
        else:
            raise _Refused(400, f"Unknown frame type {kind!r}")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _call(fn: Callable[..., Any], *args: Any, refusal_closes: bool = False) -> Any:
    """Run blocking work in a thread; an invalid token (or any refusal, when joining) closes the socket."""
    try:
        return await run_in_threadpool(fn, *args)
    except (Unauthorized, NotFound, Forbidden) as exc:
        if refusal_closes or isinstance(exc, Unauthorized):
            raise Closed(CLOSE_CODES.get(exc.status, 4400), exc.diagnostics) from None
        raise


async def _until(sub: Any, reader: asyncio.Task[None]) -> Any:
    """Yield bus messages until the client's reader task ends (then re-raise how it ended)."""
    messages = sub.__aiter__()
    while True:
        nxt = asyncio.ensure_future(messages.__anext__())
        done, _ = await asyncio.wait({nxt, reader}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt
            reader.result()  # raises WebSocketDisconnect or Closed
            return
        try:
            yield nxt.result()
        except StopAsyncIteration:
            return


async def _drain_client(ws: WebSocket, session: Session, sender: Sender) -> None:
    """Read and answer a waiting-room client's frames (only pings mean anything there)."""
    while True:
        raw = await ws.receive_text()
        session.check()
        if '"ping"' in raw:
            await sender.send({"type": "pong"})


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(code=code, reason=reason[:120])

