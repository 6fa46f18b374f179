"""WebRTC signalling checks and the ICE servers handed to callers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from communication.signalling import (
    MAX_SDP_CHARS,
    SignalRefused,
    ice_servers,
    signal,
    turn_credentials,
    url_list,
)


def test_signal__keeps_only_what_webrtc_needs_and_says_who_sent_it() -> None:
    out = signal({"type": "offer", "sdp": "v=0", "call": "c1", "ref": 3, "to": "anyone"}, from_role="citizen")
    assert out == {"type": "offer", "from": "citizen", "call": "c1", "sdp": "v=0"}


def test_signal__end_of_candidates_is_relayed_as_null() -> None:
    assert signal({"type": "ice-candidate", "candidate": None}, from_role="clinician")["candidate"] is None


@pytest.mark.parametrize("message", [
    {"type": "chat"},
    {"type": "offer"},
    {"type": "answer", "sdp": "x" * (MAX_SDP_CHARS + 1)},
    {"type": "ice-candidate", "candidate": "a line"},
    {"type": "ice-candidate", "candidate": {"candidate": 5}},
    {"type": "hang-up", "call": {"id": 1}},
])
def test_signal__anything_else_is_refused(message: dict[str, object]) -> None:
    with pytest.raises(SignalRefused):
        signal(message, from_role="citizen")


def test_turn_credentials__carry_their_expiry_and_an_hmac_of_the_username() -> None:
    username, credential = turn_credentials("s3cret", "u1", now=1_700_000_000.7, ttl_seconds=600)
    assert username == "1700000600:u1"
    assert credential == base64.b64encode(hmac.new(b"s3cret", b"1700000600:u1", hashlib.sha1).digest()).decode()


def test_ice_servers__turn_without_a_secret_gets_no_credentials_and_nothing_configured_is_empty() -> None:
    assert ice_servers(stun=[], turn=[], turn_secret="", user="u", now=0, ttl_seconds=60) == []
    servers = ice_servers(stun=["stun:a"], turn=["turn:b"], turn_secret="", user="u", now=0, ttl_seconds=60)
    assert servers == [{"urls": ["stun:a"]}, {"urls": ["turn:b"]}]


def test_url_list__takes_commas_or_spaces() -> None:
    assert url_list("stun:a:3478, stun:b:3478  turn:c") == ["stun:a:3478", "stun:b:3478", "turn:c"]
