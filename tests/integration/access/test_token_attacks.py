"""Every forged, stale or misdirected bearer token is a 401 with a precise OperationOutcome, over HTTP.

The verifier's own tests (tests/unit/idp/tokens) try each attack on `AccessTokens`; these send
the same tokens to the guarded FHIR API, so the list in the issue holds where it matters: the
answer is 401 with `WWW-Authenticate: Bearer error="invalid_token"` and an OperationOutcome
saying what is wrong, the same for a resource that exists and one that does not, and nothing
is read or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, Key

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from tests.integration.access.conftest import FHIR_BASE, ISSUER, GuardedHub
from tests.integration.access.world import ANNA


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    decode = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))  # noqa: E731
    return decode(head), decode(body), signature


def _compact(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}.{signature}"


def _hmac(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = _compact(header, payload)[:-1]
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _signed(key: Key, header: dict[str, Any], payload: dict[str, Any]) -> str:
    return jws.serialize_compact(header, json.dumps(payload).encode(), key, algorithms=[header["alg"]])


def _issue(hub: GuardedHub, tokens: AccessTokens | None = None, **shift: float) -> str:
    at = tokens or hub.tokens
    return at.issue(ANNA, Scopes.parse("user/*.cruds"), client_id="test-app", now=hub.clock.now + timedelta(**shift),
                    ttl=timedelta(minutes=10)).token


def missing(hub: GuardedHub) -> str | None:
    return None


def expired(hub: GuardedHub) -> str:
    return _issue(hub, minutes=-20)


def not_yet_valid(hub: GuardedHub) -> str:
    return _issue(hub, minutes=5)


def other_issuer(hub: GuardedHub) -> str:
    return _issue(hub, AccessTokens(hub.tokens.keys, issuer="https://evil.example", audience=FHIR_BASE))


def other_audience(hub: GuardedHub) -> str:
    return _issue(hub, AccessTokens(hub.tokens.keys, issuer=ISSUER, audience="https://other.region.se/fhir"))


def alg_none(hub: GuardedHub) -> str:
    header, payload, _ = _parts(_issue(hub))
    return _compact({**header, "alg": "none"}, payload)


def hmac_with_public_key(hub: GuardedHub) -> str:
    header, payload, _ = _parts(_issue(hub))
    public_pem = hub.tokens.keys.signing_key.as_pem(private=False)
    return _hmac({**header, "alg": "HS256"}, {**payload, "scope": "system/*.cruds"}, public_pem)


def unknown_kid(hub: GuardedHub) -> str:
    return _issue(hub, AccessTokens(KeyRing.generate(), issuer=ISSUER, audience=FHIR_BASE))


def tampered_payload(hub: GuardedHub) -> str:
    token = _issue(hub)
    head, _, signature = token.split(".")
    _, payload, _ = _parts(token)
    payload["ingang_principal"]["employee_hsa_id"] = "SE2321000000-P999"
    return f"{head}.{_b64(json.dumps(payload).encode())}.{signature}"


def attackers_key_under_the_hubs_kid(hub: GuardedHub) -> str:
    header, payload, _ = _parts(_issue(hub))
    attacker = ECKey.generate_key("P-256", private=True)
    return _signed(attacker, {**header, "jwk": attacker.as_dict(private=False)}, payload)


ATTACKS: dict[str, tuple[Callable[[GuardedHub], str | None], str]] = {
    "missing": (missing, "Log in to do this"),
    "expired": (expired, "The access token expired at"),
    "not-yet-valid": (not_yet_valid, "The access token is not valid before"),
    "wrong-issuer": (other_issuer, "issued by 'https://evil.example', not by this hub"),
    "wrong-audience": (other_audience, "is for 'https://other.region.se/fhir', not for this FHIR server"),
    "alg-none": (alg_none, "The access token is unsigned (alg 'none')"),
    "hmac-signed-with-public-key": (hmac_with_public_key, "signed with HS256, a shared-secret algorithm"),
    "unknown-kid": (unknown_kid, "which is not one of the hub's keys"),
    "tampered-payload": (tampered_payload, "The access token's signature does not verify"),
    "attackers-key": (attackers_key_under_the_hubs_kid, "The access token's signature does not verify"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bad_token__is_401_with_an_outcome_saying_what_is_wrong_and_reads_and_logs_nothing(
        hub: GuardedHub, attack: str) -> None:
    forge, words = ATTACKS[attack]
    token = forge(hub)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    before = len(hub.audit_events())

    there = hub.client.get("/fhir/Encounter/encounter-anders", headers=headers)
    absent = hub.client.get("/fhir/Encounter/no-such-encounter", headers=headers)

    assert there.status_code == 401, there.text
    outcome = there.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"], outcome
    assert there.headers["WWW-Authenticate"].startswith("Bearer")
    if token is not None:
        assert 'error="invalid_token"' in there.headers["WWW-Authenticate"]
    assert (absent.status_code, absent.json()) == (401, outcome), "the answer must not depend on what exists"
    assert len(hub.audit_events()) == before


def test_the_same_token_untampered__is_accepted(hub: GuardedHub) -> None:
    response = hub.client.get("/fhir/Encounter/encounter-anders", headers={"Authorization": f"Bearer {_issue(hub)}"})
    assert response.status_code == 200, response.text
