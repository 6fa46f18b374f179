"""Shared pieces for the token tests: a key ring, a verifier, sample principals and a JWT forger."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.jwk import Key

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from cases.principals import Citizen, Clinician, Commission, Guardian, Principal, RegionalSystem

ISSUER = "https://hub.example.se"
AUDIENCE = "https://hub.example.se/fhir"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)

CITIZEN = Citizen("191212121212", given_name="Tolvan", family_name="Tolvansson")
CLINICIAN = Clinician(
    "SE2321000016-1003",
    Commission("SE2321000016-9001", "SE2321000016-15CQ", "SE2321000016-0001", rights=("Läsa", "Skriva"),
               care_unit_name="Vårdcentralen Ekhagen"),
    given_name="Doris", family_name="Doktor", profession="Läkare", licences=("LK",),
    emergency_access=("SE2321000016-0002",),
)
ALL_PRINCIPALS: list[Principal] = [
    CITIZEN,
    Citizen("201212121212", coordination_number=True),
    Guardian(CITIZEN, child_person_id="201712122389"),
    CLINICIAN,
    Clinician("SE2321000016-1004", Commission("c", "u", "p", purpose="Administration")),
    RegionalSystem("journal-vg", "VG", scopes=("system/Encounter.rs", "system/Task.cu")),
]


def tokens(keys: KeyRing | None = None) -> AccessTokens:
    """Return a verifier/signer for the test issuer and audience."""
    return AccessTokens(keys or KeyRing.generate(), issuer=ISSUER, audience=AUDIENCE)


def issue(at: AccessTokens, principal: Principal = CITIZEN, scope: str = "launch/patient patient/*.rs",
          **kwargs: Any) -> str:
    """Issue a token at NOW with the given principal and scope."""
    return at.issue(principal, Scopes.parse(scope), client_id="app", now=NOW, **kwargs).token


def b64(data: bytes) -> str:
    """Encode base64url without padding, as JOSE does."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Split a JWT into its header, payload and signature (unverified)."""
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


def encode_unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    """Write a JWT with any header and payload and a given (or empty) signature."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{signature}"


def sign_hmac(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """Sign like HS256 with an arbitrary secret: the key-confusion attacker's move."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def sign_with(key: Key, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Sign a payload with any key, e.g. an attacker's own."""
    return jws.serialize_compact(header, json.dumps(payload).encode(), key, algorithms=[header["alg"]])
