"""The conversation over WebSockets: who may join, chat both ways, receipts, resuming, ending the chat."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from cases.principals import Guardian
from communication.chat import READ_EXTENSION
from tests.aio import run_in_own_loop
from tests.integration.communication.conftest import (
    ANDERS,
    ANNA,
    BERTIL,
    LILLY_PNR,
    TOLVAN,
    LiveHub,
    opened,
    quiet,
    recv,
    recv_until,
)


async def _closed_with(hub: LiveHub, principal: Any, **query: Any) -> tuple[int, str]:
    async with hub.connect(principal, **query) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(ws)
    rcvd = closed.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def test_join__without_a_token_is_closed_with_4401(live: LiveHub) -> None:
    code, reason = run_in_own_loop(_closed_with(live, None))
    assert code == 4401 and "access token" in reason


def test_join__a_citizen_without_this_case_is_told_it_does_not_exist(live: LiveHub) -> None:
    code, _reason = run_in_own_loop(_closed_with(live, TOLVAN))
    assert code == 4404


def test_join__a_colleague_who_has_not_claimed_the_case_is_refused(live: LiveHub) -> None:
    code, reason = run_in_own_loop(_closed_with(live, BERTIL))
    assert code == 4403 and "claimed" in reason


def test_join__a_bad_since_is_refused(live: LiveHub) -> None:
    code, _reason = run_in_own_loop(_closed_with(live, ANDERS, since="yesterday"))
    assert code == 4400


def test_join__the_hello_names_both_parties_and_the_ice_servers(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANNA) as ws:
            hello, replayed = await opened(ws)
            assert replayed["seq"] == 0
            return hello
    hello = run_in_own_loop(main())
    assert (hello["role"], hello["me"], hello["other"]) == ("clinician", "PractitionerRole/anna-dig1",
                                                            "Patient/anders")
    assert hello["chat"] == {"open": True, "reason": None}
    turn = next(s for s in hello["iceServers"] if s["urls"] == ["turn:turn.test:3478"])
    assert turn["username"].endswith(":PractitionerRole/anna-dig1") and turn["credential"]


def test_join__the_token_may_come_as_the_bearer_subprotocol(live: LiveHub) -> None:
    async def main() -> tuple[str | None, str]:
        async with live.connect(None, subprotocols=["bearer", live.token(ANDERS)]) as ws:
            hello, _ = await opened(ws)
            return ws.subprotocol, hello["role"]
    assert run_in_own_loop(main()) == ("bearer", "citizen")


def test_join__a_guardian_talks_for_their_child_as_themselves(live: LiveHub) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with live.connect(Guardian(ANDERS, LILLY_PNR), path="/live/encounters/enc-lilly") as guardian, \
                live.connect(ANNA, path="/live/encounters/enc-lilly") as clinician:
            hello, _ = await opened(guardian)
            await opened(clinician)
            await guardian.send('{"type": "send", "text": "Lilly har feber."}')
            return hello, await recv_until(clinician, "message")
    hello, message = run_in_own_loop(main())
    assert (hello["role"], hello["me"]) == ("citizen", "Patient/anders")
    assert message["resource"]["subject"] == {"reference": "Patient/lilly"}
    assert message["resource"]["sender"] == {"reference": "Patient/anders"}


def test_join__a_citizen_who_is_not_the_childs_guardian_is_told_it_does_not_exist(live: LiveHub) -> None:
    code, _reason = run_in_own_loop(_closed_with(live, TOLVAN, path="/live/encounters/enc-lilly"))
    assert code == 4404


def test_join__a_socket_whose_token_expired_is_closed_at_its_next_action(live: LiveHub) -> None:
    async def main() -> tuple[int, str]:
        issued = time.monotonic()
        token = live.token(ANDERS, ttl=timedelta(seconds=6))  # long enough to join on a busy machine
        async with live.connect(None, access_token=token) as ws:
            await opened(ws)
            await asyncio.sleep(max(0.0, issued + 7.0 - time.monotonic()))
            await ws.send('{"type": "send", "text": "Är jag kvar?"}')
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(ws)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason
    code, reason = run_in_own_loop(main())
    assert code == 4401 and "expired" in reason


def test_chat__each_party_gets_the_others_message_live_and_it_is_stored(live: LiveHub) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await clinician.send('{"type": "send", "text": "Hej Anders, hur mår du?", "ref": "c1"}')
            ack = await recv_until(clinician, "ack")
            got = await recv_until(citizen, "message")
            assert got["id"] == ack["id"] and ack["ref"] == "c1"
            got_sender = {"reference": "Patient/anders"}
            await citizen.send('{"type": "send", "text": "Det gör ont när jag andas.", "ref": "p1"}')
            while (back := await recv_until(clinician, "message"))["resource"]["sender"] != got_sender:
                pass  # the clinician's own message comes back too, as the citizen's will
            return got, back
    to_citizen, to_clinician = run_in_own_loop(main())
    assert to_citizen["resource"]["sender"] == {"reference": "PractitionerRole/anna-dig1"}
    assert to_citizen["resource"]["payload"] == [{"contentString": "Hej Anders, hur mår du?"}]
    assert to_clinician["resource"]["sender"] == {"reference": "Patient/anders"}
    assert to_clinician["seq"] > to_citizen["seq"]
    bundle = httpx.get(f"{live.base_url}/fhir/Communication", params={"encounter": "Encounter/enc"},
                       headers=live.headers(ANNA)).json()
    texts = sorted(e["resource"]["payload"][0]["contentString"] for e in bundle.get("entry", []))
    assert texts == ["Det gör ont när jag andas.", "Hej Anders, hur mår du?"]


def test_chat__an_empty_message_gets_an_error_and_nothing_is_stored(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANDERS) as ws:
            await opened(ws)
            await ws.send('{"type": "send", "text": "   ", "ref": 7}')
            return await recv_until(ws, "error")
    error = run_in_own_loop(main())
    assert error["status"] == 400 and error["ref"] == 7 and "text" in error["message"]
    bundle = httpx.get(f"{live.base_url}/fhir/Communication", headers=live.headers(ANNA)).json()
    assert bundle.get("total", len(bundle.get("entry", []))) == 0


def test_receipts__delivery_and_reading_are_stored_and_pushed_to_the_sender(live: LiveHub) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await clinician.send('{"type": "send", "text": "Hur länge har du haft feber?"}')
            message = await recv_until(citizen, "message")
            await citizen.send(f'{{"type": "delivered", "id": "{message["id"]}"}}')
            delivered = await recv_until(clinician, "receipt")
            await citizen.send(f'{{"type": "read", "id": "{message["id"]}"}}')
            read = await recv_until(clinician, "receipt")
            return delivered, read
    delivered, read = run_in_own_loop(main())
    assert delivered["resource"]["received"] and "extension" not in delivered["resource"]
    assert [e["url"] for e in read["resource"]["extension"]] == [READ_EXTENSION]
    assert read["seq"] > delivered["seq"]
    stored = httpx.get(f"{live.base_url}/fhir/Communication/{read['id']}", headers=live.headers(ANNA)).json()
    assert stored["received"] == delivered["resource"]["received"]
    assert stored["extension"][0]["url"] == READ_EXTENSION


def test_receipts__a_sender_cannot_mark_their_own_message_read(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANNA) as clinician:
            await opened(clinician)
            await clinician.send('{"type": "send", "text": "Hej"}')
            ack = await recv_until(clinician, "ack")
            await clinician.send(f'{{"type": "read", "id": "{ack["id"]}"}}')
            return await recv_until(clinician, "error")
    assert run_in_own_loop(main())["status"] == 403


def test_resume__reconnecting_with_since_replays_only_what_was_missed_then_goes_live(live: LiveHub) -> None:
    async def main() -> tuple[list[str], list[str]]:
        async with live.connect(ANNA) as clinician:
            await opened(clinician)
            async with live.connect(ANDERS) as citizen:
                await opened(citizen)
                await clinician.send('{"type": "send", "text": "ett"}')
                last_seen = (await recv_until(citizen, "message"))["seq"]
            for text in ("två", "tre"):
                await clinician.send(f'{{"type": "send", "text": "{text}"}}')
                await recv_until(clinician, "ack")
            async with live.connect(ANDERS, since=last_seen) as citizen:
                await recv_until(citizen, "hello")
                replayed = []
                while (frame := await recv(citizen))["type"] != "replayed":
                    replayed.append(frame["resource"]["payload"][0]["contentString"])
                await clinician.send('{"type": "send", "text": "fyra"}')
                live_text = [(await recv_until(citizen, "message"))["resource"]["payload"][0]["contentString"]]
                await quiet(citizen)
                return replayed, live_text
    replayed, live_text = run_in_own_loop(main())
    assert replayed == ["två", "tre"]
    assert live_text == ["fyra"]


def test_end_chat__the_citizen_cannot_write_after_the_clinician_ends_it(live: LiveHub) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await citizen.send('{"type": "end-chat"}')
            refused_step = await recv_until(citizen, "error")
            await clinician.send('{"type": "end-chat"}')
            ended = await recv_until(citizen, "chat-ended")
            await recv_until(clinician, "chat-ended")
            await citizen.send('{"type": "send", "text": "Hallå?"}')
            refused = await recv_until(citizen, "error")
            await quiet(clinician)  # nothing refused is stored, so nothing is pushed
            return refused_step, ended, refused
    refused_step, ended, refused = run_in_own_loop(main())
    assert refused_step["status"] == 403
    assert ended["resource"]["sender"] == {"reference": "PractitionerRole/anna-dig1"}
    assert refused["status"] == 409 and "ended" in refused["message"]
    rest = httpx.post(f"{live.base_url}/fhir/Communication", headers=live.headers(ANDERS), json={
        "resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/anders"},
        "encounter": {"reference": "Encounter/enc"}, "sender": {"reference": "Patient/anders"},
        "payload": [{"contentString": "Hallå?"}]})
    assert rest.status_code == 409, rest.text
    assert rest.json()["resourceType"] == "OperationOutcome"
    assert "ended" in rest.json()["issue"][0]["diagnostics"]


def test_end_chat__opening_it_again_lets_the_citizen_write(live: LiveHub) -> None:
    async def main() -> dict[str, Any]:
        async with live.connect(ANDERS) as citizen, live.connect(ANNA) as clinician:
            await opened(citizen)
            await opened(clinician)
            await clinician.send('{"type": "end-chat"}')
            await recv_until(citizen, "chat-ended")
            await clinician.send('{"type": "open-chat"}')
            await recv_until(citizen, "chat-opened")
            await citizen.send('{"type": "send", "text": "Tack!"}')
            return await recv_until(citizen, "message")
    assert run_in_own_loop(main())["resource"]["payload"][0]["contentString"] == "Tack!"


def test_closed_case__a_citizen_cannot_write_over_rest_into_a_finished_encounter(live: LiveHub) -> None:
    encounter = httpx.get(f"{live.base_url}/fhir/Encounter/enc", headers=live.headers(ANNA)).json()
    encounter["status"] = "finished"
    assert live.put(encounter).status_code == 200
    rest = httpx.post(f"{live.base_url}/fhir/Communication", headers=live.headers(ANDERS), json={
        "resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/anders"},
        "encounter": {"reference": "Encounter/enc"}, "sender": {"reference": "Patient/anders"},
        "payload": [{"contentString": "En sak till"}]})
    assert rest.status_code == 409 and "closed" in rest.json()["issue"][0]["diagnostics"]
