"""Video signalling between the two parties, the waiting room's live feed, and the ICE configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from tests.aio import run_in_own_loop
from tests.integration.communication.conftest import (
    ANDERS,
    ANNA,
    ERIK,
    LiveHub,
    opened,
    quiet,
    recv,
    recv_until,
)

OFFER = '{"type": "offer", "sdp": "v=0 offer", "call": "c1", "ref": 1}'


def _versions(hub: LiveHub) -> tuple[str, str]:
    headers = hub.headers(ANNA)
    task = httpx.get(f"{hub.base_url}/fhir/Task/task", headers=headers).json()
    encounter = httpx.get(f"{hub.base_url}/fhir/Encounter/enc", headers=headers).json()
    return task["meta"]["versionId"], encounter["meta"]["versionId"]


def test_signalling__offer_answer_and_candidates_reach_only_the_other_party(live: LiveHub) -> None:
    before = _versions(live)

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await clinician.send(OFFER)
            at_citizen = [await recv_until(citizen, "offer")]
            await citizen.send('{"type": "answer", "sdp": "v=0 answer", "call": "c1"}')
            await citizen.send('{"type": "ice-candidate", "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 5 '
                               'typ host", "sdpMid": "0", "sdpMLineIndex": 0, "extra": "dropped"}}')
            at_clinician = [await recv_until(clinician, "answer"), await recv_until(clinician, "ice-candidate")]
            await clinician.send('{"type": "hang-up", "call": "c1"}')
            at_citizen.append(await recv_until(citizen, "hang-up"))
            await quiet(citizen)  # none of the citizen's own signalling came back to them
            await quiet(clinician)
            return at_citizen, at_clinician
    at_citizen, at_clinician = run_in_own_loop(main())
    assert at_citizen[0] == {"type": "offer", "from": "clinician", "call": "c1", "sdp": "v=0 offer"}
    assert at_citizen[1] == {"type": "hang-up", "from": "clinician", "call": "c1"}
    assert at_clinician[0]["sdp"] == "v=0 answer" and at_clinician[0]["from"] == "citizen"
    assert at_clinician[1]["candidate"] == {"candidate": "candidate:1 1 udp 1 10.0.0.1 5 typ host", "sdpMid": "0",
                                            "sdpMLineIndex": 0}
    assert _versions(live) == before  # a call leaves the case as it was
    chat = httpx.get(f"{live.base_url}/fhir/Communication", params={"encounter": "Encounter/enc"},
                     headers=live.headers(ANNA)).json()
    assert not chat.get("entry")


def test_signalling__a_malformed_offer_is_refused_and_not_relayed(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await clinician.send('{"type": "offer", "ref": "x"}')
            error = await recv_until(clinician, "error")
            await quiet(citizen)
            return error
    error = run_in_own_loop(main())
    assert error["status"] == 400 and error["ref"] == "x" and "sdp" in error["message"]


def test_waiting_room__clinicians_of_the_unit_see_case_changes_live(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANNA, path="/live/waiting-rooms/dig1") as room:
            assert (await recv(room))["type"] == "hello"
            task = httpx.get(f"{live.base_url}/fhir/Task/task", headers=live.headers(ANNA)).json()
            task["status"], task["owner"] = "ready", {"reference": "Organization/dig1"}
            assert live.put(task).status_code == 200
            return await recv_until(room, "task")
    event = run_in_own_loop(main())
    assert (event["id"], event["status"], event["owner"], event["encounter"]) == (
        "task", "ready", "Organization/dig1", "enc")
    assert "for" not in event  # ids and states only; details are read (and audited) over FHIR


def test_waiting_room__another_units_clinician_is_refused(live: LiveHub) -> None:
    async def main() -> tuple[int, str]:
        async with live.connect(ERIK, path="/live/waiting-rooms/dig1") as room:
            try:
                while True:
                    await recv(room)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code, closed.rcvd.reason
    code, reason = run_in_own_loop(main())
    assert code == 4403 and "unit" in reason


def test_release__the_clinician_who_no_longer_holds_the_case_is_disconnected(live: LiveHub) -> None:
    async def main() -> int:
        async with live.connect(ANNA) as clinician:
            await opened(clinician)
            task = httpx.get(f"{live.base_url}/fhir/Task/task", headers=live.headers(ANNA)).json()
            task["status"], task["owner"] = "ready", {"reference": "Organization/dig1"}
            assert live.put(task).status_code == 200
            try:
                while True:
                    await recv(clinician)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code
    assert run_in_own_loop(main()) == 4403


def test_config__gives_time_limited_turn_credentials_by_the_turn_rest_convention(live: LiveHub) -> None:
    assert httpx.get(f"{live.base_url}/live/config").status_code == 401
    servers = httpx.get(f"{live.base_url}/live/config", headers=live.headers(ANDERS)).json()["iceServers"]
    assert servers[0] == {"urls": ["stun:stun.test:3478"]}
    turn = servers[1]
    expiry, user = turn["username"].split(":", 1)
    assert int(expiry) > 0 and ANDERS.person_id not in user
    expected = base64.b64encode(hmac.new(b"turn-secret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
