"""Wire the live layer into the app: the bus, the FHIR server's listeners, the WebSockets and /live/config.

`mount_live` picks the bus from the settings (in process, or Redis for several replicas),
registers the chat rules and the publisher on the FHIR server, and adds the routes. The bus
connects and the publisher starts in the app's lifespan, on the event loop that serves the
WebSockets; the lifespan already there is kept and wrapped, so the app factory stays as it is.
https://hl7.org/fhir/R4/communication.html
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute

from communication.bus import Bus, InProcessBus
from communication.signalling import ice_servers, url_list
from fhir_api.outcomes import Unauthorized
from fhir_api.server import FhirServer
from hub.access.caller import TokenVerifier
from hub.live.parties import Conversations
from hub.live.publisher import LivePublisher
from hub.live.sockets import LiveSockets
from hub.live.store import LiveStore
from hub.settings import Settings

BUS_KINDS = ("memory", "redis")


def make_bus(settings: Settings) -> Bus:
    """Return the bus the settings name; refuse an unknown kind at start-up."""
    if settings.live_bus == "memory":
        return InProcessBus()
    if settings.live_bus == "redis":
        from hub.live.redis_bus import RedisBus

        return RedisBus(settings.live_redis_url)
    raise SystemExit(f"configuration error: INGANG_LIVE_BUS must be one of {', '.join(BUS_KINDS)}, "
                     f"not {settings.live_bus!r}")


def ice_for(settings: Settings, clock: Callable[[], float] = time.time) -> Callable[[str], list[dict[str, Any]]]:
    """Return a function that gives a user their ICE servers (TURN credentials made per user)."""
    stun, turn = url_list(settings.ice_stun_urls), url_list(settings.ice_turn_urls)

    def for_user(user: str) -> list[dict[str, Any]]:
        return ice_servers(stun=stun, turn=turn, turn_secret=settings.ice_turn_secret, user=user, now=clock(),
                           ttl_seconds=settings.ice_turn_ttl_seconds)
    return for_user


@contextlib.asynccontextmanager
async def _running(bus: Bus, publisher: LivePublisher) -> AsyncIterator[None]:
    await bus.start()
    await publisher.start()
    try:
        yield
    finally:
        await publisher.stop()
        await bus.close()


def mount_live(app: FastAPI, server: FhirServer, settings: Settings, verifier: TokenVerifier,
               bus: Bus | None = None) -> LiveSockets:
    """Add the live WebSockets and /live/config to the app, over the FHIR server."""
    bus = bus or make_bus(settings)
    store = LiveStore(server)
    publisher = LivePublisher(bus, store)
    server.add_write_listener(publisher.before_commit)
    server.add_commit_listener(publisher.after_commit)
    ice = ice_for(settings)
    sockets = LiveSockets(bus, Conversations(server, store), verifier, ice)

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with _running(bus, publisher), inner(a) as state:
            yield state
    app.router.lifespan_context = lifespan

    async def live_config(request: Request) -> Response:
        try:
            token = verifier.verify_authorization(request.headers.get("authorization"), now=datetime.now(UTC))
        except Unauthorized as exc:
            return JSONResponse(exc.outcome(), status_code=401, headers={"WWW-Authenticate": 'Bearer realm="ingang"'})
        principal = token.principal
        who = getattr(principal, "employee_hsa_id", "") or getattr(principal, "person_id", "") or principal.kind
        user = hashlib.sha256(who.encode("utf-8")).hexdigest()[:16]  # the TURN server's logs get no personnummer
        return JSONResponse({"iceServers": ice(user)}, headers={"Cache-Control": "no-store"})

    app.add_route("/live/config", live_config, methods=["GET"], include_in_schema=False)
    app.router.routes.append(WebSocketRoute("/live/encounters/{encounter_id}", sockets.encounter))
    app.router.routes.append(WebSocketRoute("/live/waiting-rooms/{organization_id}", sockets.waiting_room))
    app.state.live = sockets
    return sockets
