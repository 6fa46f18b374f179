"""A hub as `create_app` builds it, served by uvicorn in a thread, with one case claimed by a clinician.

The WebSocket tests talk to a real server with the `websockets` client, so every wait has a
timeout and nothing hangs. The world: care unit Digitala mottagningen Norr with nurses Anna
(who has claimed Anders' case) and Bertil; patient Anders, and Tolvan, who has no case there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from adapters.idp.tokens import Scopes
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM, Citizen, Clinician, Commission, Principal
from hub.app import create_app
from tests.conftest import hub_settings
from tests.processes import free_port

NORR, DIG1, VC01 = "SE2321000000-NORR", "SE2321000000-DIG1", "SE2321000000-VC01"
ANDERS = Citizen("198112189876", "Anders", "Testsson")
LILLY_PNR = "201401022387"  # Anders' daughter in the dev population register
TOLVAN = Citizen("191212121212", "Tolvan", "Tolvansson")
ANNA = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-dig1", DIG1, NORR))
BERTIL = Clinician("SE2321000000-P005", Commission("SE2321000000-P005-dig1", DIG1, NORR))
ERIK = Clinician("SE2321000000-P002", Commission("SE2321000000-P002-vc01", VC01, NORR))
WAIT_S = 10.0


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def world() -> list[dict[str, Any]]:
    """Return the directory, the patients and one claimed case, with readable ids."""
    def org(ident: str, hsa: str, part_of: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"resourceType": "Organization", "id": ident, "name": ident,
                               "identifier": [{"system": HSA_SYSTEM, "value": hsa}]}
        if part_of:
            out["partOf"] = ref(f"Organization/{part_of}")
        return out

    def person(kind: str, ident: str, system: str, value: str) -> dict[str, Any]:
        return {"resourceType": kind, "id": ident, "identifier": [{"system": system, "value": value}]}

    return [
        org("norr", NORR), org("dig1", DIG1, "norr"), org("vc01", VC01, "norr"),
        person("Practitioner", "anna", HSA_SYSTEM, ANNA.employee_hsa_id),
        person("Practitioner", "bertil", HSA_SYSTEM, BERTIL.employee_hsa_id),
        {"resourceType": "PractitionerRole", "id": "anna-dig1", "practitioner": ref("Practitioner/anna"),
         "organization": ref("Organization/dig1")},
        {"resourceType": "PractitionerRole", "id": "bertil-dig1", "practitioner": ref("Practitioner/bertil"),
         "organization": ref("Organization/dig1")},
        person("Patient", "anders", PERSONNUMMER_SYSTEM, ANDERS.person_id),
        person("Patient", "tolvan", PERSONNUMMER_SYSTEM, TOLVAN.person_id),
        person("Patient", "lilly", PERSONNUMMER_SYSTEM, LILLY_PNR),
        {"resourceType": "Encounter", "id": "enc", "status": "in-progress", "subject": ref("Patient/anders"),
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
         "serviceProvider": ref("Organization/dig1")},
        {"resourceType": "Task", "id": "task", "status": "in-progress", "intent": "order",
         "for": ref("Patient/anders"), "encounter": ref("Encounter/enc"), "owner": ref("PractitionerRole/anna-dig1")},
        {"resourceType": "Encounter", "id": "enc-lilly", "status": "in-progress", "subject": ref("Patient/lilly"),
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
         "serviceProvider": ref("Organization/dig1")},
        {"resourceType": "Task", "id": "task-lilly", "status": "in-progress", "intent": "order",
         "for": ref("Patient/lilly"), "encounter": ref("Encounter/enc-lilly"),
         "owner": ref("PractitionerRole/anna-dig1")},
    ]


@dataclass
class LiveHub:
    """A running hub and helpers to act as a principal over HTTP and WebSocket."""

    base_url: str
    app: Any

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def token(self, principal: Principal, ttl: timedelta = timedelta(hours=1)) -> str:
        tokens = self.app.state.auth.tokens
        return str(tokens.issue(principal, Scopes.parse("user/*.cruds patient/*.cruds"), client_id="test",
                                now=datetime.now(UTC), ttl=ttl).token)

    def headers(self, principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(principal)}"}

    def connect(self, principal: Principal | None, path: str = "/live/encounters/enc", subprotocols: Any = None,
                **query: Any) -> Any:
        params = dict(query)
        if principal is not None:
            params["access_token"] = self.token(principal)
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        return connect(f"{self.ws_url}{path}" + (f"?{qs}" if qs else ""), open_timeout=WAIT_S,
                       subprotocols=subprotocols)

    def put(self, resource: dict[str, Any]) -> httpx.Response:
        """Write a resource as the hub itself would (straight to the store, through the FHIR server)."""
        from fhir_api.messages import FhirRequest
        from hub.access.caller import hub_caller

        server = self.app.state.hub.fhir
        resp = server.handle(FhirRequest(method="PUT", path=f"{resource['resourceType']}/{resource['id']}",
                                         body=resource, caller=hub_caller()))
        return httpx.Response(resp.status, json=resp.json())


async def recv(ws: ClientConnection, timeout: float = WAIT_S) -> dict[str, Any]:
    """Receive one JSON frame, or fail after the timeout."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def recv_until(ws: ClientConnection, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """Receive frames until one of this type arrives (failing after the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - time.monotonic()))
        if frame.get("type") == kind:
            return frame


async def opened(ws: ClientConnection) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the hello and the end of the replay."""
    hello = await recv(ws)
    assert hello["type"] == "hello", hello
    replayed = await recv_until(ws, "replayed")
    return hello, replayed


async def quiet(ws: ClientConnection, wait: float = 0.4, ignore: tuple[str, ...] = ("ack",)) -> bool:
    """Tell whether nothing more arrives for a while (besides acks of what the client sent)."""
    while True:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), wait))
        except TimeoutError:
            return True
        if frame.get("type") not in ignore:
            raise AssertionError(f"expected nothing more, got {frame}")


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run the app under uvicorn in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live(database_url: str) -> Iterator[LiveHub]:
    """A guarded hub with the world in it, served over HTTP and WebSocket."""
    settings = hub_settings(database_url, access_control=True, ice_stun_urls="stun:stun.test:3478",
                            ice_turn_urls="turn:turn.test:3478", ice_turn_secret="turn-secret")
    app = create_app(settings)
    hub = LiveHub("", app)
    for resource in world():
        assert hub.put(resource).status_code in (200, 201)
    with serve(app) as url:
        hub.base_url = url
        yield hub
    app.state.hub.engine.dispose()
