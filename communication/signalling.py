"""Relay WebRTC signalling between the two parties of an encounter, and say which ICE servers to use.

The hub is only the signalling server: offers, answers, ICE candidates and hang-ups pass from
one party's WebSocket to the other's and are not stored, so switching between chat and video
leaves the case as it was. Messages are checked for shape and size before they are relayed,
so a client cannot push arbitrary payloads through the hub. TURN credentials follow the TURN
REST convention: a username that carries its expiry and an HMAC-SHA1 of it with a secret the
TURN server shares, so credentials expire on their own and the hub keeps no TURN state.
https://datatracker.ietf.org/doc/html/draft-uberti-behave-turn-rest-00
https://hl7.org/fhir/R4/encounter.html
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

SIGNAL_TYPES = frozenset({"offer", "answer", "ice-candidate", "hang-up"})
MAX_SDP_CHARS = 64 * 1024
MAX_CANDIDATE_CHARS = 4096


class SignalRefused(Exception):
    """A signalling message that is not one the hub relays."""


def signal(message: Mapping[str, Any], *, from_role: str) -> dict[str, Any]:
    """Return the message to relay to the other party, keeping only the fields WebRTC needs."""
    kind = message.get("type")
    if kind not in SIGNAL_TYPES:
        raise SignalRefused(f"Unknown signalling message {kind!r}; expected one of {', '.join(sorted(SIGNAL_TYPES))}")
    out: dict[str, Any] = {"type": kind, "from": from_role}
    call = message.get("call")
    if call is not None:
        if not isinstance(call, str) or len(call) > 64:
            raise SignalRefused("'call' must be a short string that names the call")
        out["call"] = call
    if kind in ("offer", "answer"):
        sdp = message.get("sdp")
        if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP_CHARS:
            raise SignalRefused(f"An {kind} needs 'sdp': the session description, at most {MAX_SDP_CHARS} characters")
        out["sdp"] = sdp
    elif kind == "ice-candidate":
        candidate = message.get("candidate")
        if candidate is None:  # the end-of-candidates marker
            out["candidate"] = None
        elif isinstance(candidate, Mapping):
            text = candidate.get("candidate")
            if not isinstance(text, str) or len(text) > MAX_CANDIDATE_CHARS:
                raise SignalRefused("'candidate.candidate' must be the candidate line")
            kept: dict[str, Any] = {"candidate": text}
            if isinstance(candidate.get("sdpMid"), str | None):
                kept["sdpMid"] = candidate.get("sdpMid")
            if isinstance(candidate.get("sdpMLineIndex"), int | None):
                kept["sdpMLineIndex"] = candidate.get("sdpMLineIndex")
            out["candidate"] = kept
        else:
            raise SignalRefused("An ice-candidate needs 'candidate': an RTCIceCandidateInit object or null")
    return out


def turn_credentials(secret: str, user: str, *, now: float, ttl_seconds: int) -> tuple[str, str]:
    """Return (username, credential) valid until now + ttl, by the TURN REST convention."""
    username = f"{int(now) + ttl_seconds}:{user}"
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(*, stun: Sequence[str], turn: Sequence[str], turn_secret: str, user: str, now: float,
                ttl_seconds: int) -> list[dict[str, Any]]:
    """Return RTCIceServer entries: STUN as given, TURN with time-limited credentials when a secret is set."""
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": list(stun)})
    if turn:
        entry: dict[str, Any] = {"urls": list(turn)}
        if turn_secret:
            entry["username"], entry["credential"] = turn_credentials(turn_secret, user, now=now,
                                                                      ttl_seconds=ttl_seconds)
        servers.append(entry)
    return servers


def url_list(value: str) -> list[str]:
    """Split a comma- or space-separated list of ICE server URLs from configuration."""
    return [part for part in value.replace(",", " ").split() if part]
