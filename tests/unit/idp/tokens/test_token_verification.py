"""The token attack list: every way a forged, stale or misdirected access token must be refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from joserfc.jwk import ECKey
from token_fixtures import (
    AUDIENCE,
    CITIZEN,
    CLINICIAN,
    ISSUER,
    NOW,
    b64,
    encode_unsigned,
    issue,
    segments,
    sign_hmac,
    sign_with,
    tokens,
)

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes, generate_private_jwk
from fhir_api.outcomes import Unauthorized


def rejected(at: AccessTokens, token: str | None, *, now=NOW) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        at.verify_access_token(token, now=now)
    return caught.value


def test_verify__a_valid_token_gives_the_principal_scopes_and_launch_context() -> None:
    at = tokens()
    token = issue(at, CLINICIAN, "openid fhirUser launch user/*.rs patient/Observation.rs", patient="p1",
                  encounter="e1", fhir_user="Practitioner/x", subject="s1")
    ctx = at.verify_access_token(token, now=NOW + timedelta(minutes=5))
    assert ctx.principal == CLINICIAN
    assert ctx.client_id == "app" and ctx.patient == "p1" and ctx.encounter == "e1"
    assert ctx.fhir_user == "Practitioner/x" and ctx.subject == "s1" and ctx.token_id
    assert ctx.scopes.allows("Observation", "r", "patient") and ctx.scopes.allows("Task", "s", "user")
    assert ctx.expires_at == NOW + timedelta(minutes=10)


@pytest.mark.parametrize("token", [None, ""])
def test_verify__a_missing_token_is_rejected(token: str | None) -> None:
    error = rejected(tokens(), token)
    assert error.diagnostics == "No access token was sent; send 'Authorization: Bearer <token>'"
    assert error.status == 401 and error.headers["WWW-Authenticate"] == 'Bearer realm="ingang"'


def test_verify_authorization__a_missing_header_or_another_scheme_is_rejected() -> None:
    at = tokens()
    with pytest.raises(Unauthorized, match=r"^No access token was sent"):
        at.verify_authorization(None, now=NOW)
    with pytest.raises(Unauthorized) as caught:
        at.verify_authorization("Basic YTpi", now=NOW)
    assert caught.value.diagnostics == ("The Authorization header uses the 'Basic' scheme; send "
                                        "'Authorization: Bearer <token>'")


def test_verify_authorization__reads_a_bearer_header() -> None:
    at = tokens()
    assert at.verify_authorization(f"Bearer {issue(at)}", now=NOW).principal == CITIZEN


@pytest.mark.parametrize(("token", "message"), [
    ("not-a-jwt", "The access token is malformed: a signed JWT has three dot-separated parts "
                  "(header.payload.signature), this one has 1"),
    ("a.b.c.d.e", "The access token is malformed: a signed JWT has three dot-separated parts "
                  "(header.payload.signature), this one has 5"),
    ("%%%.e30.sig", "The access token is malformed: its header is not base64url-encoded JSON"),
    (f"{b64(b'{}')}.e30.sig", "The access token is malformed: its header has no 'alg'"),
])
def test_verify__a_malformed_token_is_rejected(token: str, message: str) -> None:
    error = rejected(tokens(), token)
    assert error.diagnostics == message
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]


def test_verify__an_expired_token_is_rejected() -> None:
    at = tokens()
    error = rejected(at, issue(at), now=NOW + timedelta(minutes=10, seconds=31))
    assert error.diagnostics == "The access token expired at 2025-03-01T12:10:00Z"


def test_verify__a_token_just_past_expiry_is_accepted_within_the_clock_leeway() -> None:
    at = tokens()
    assert at.verify_access_token(issue(at), now=NOW + timedelta(minutes=10, seconds=29)).principal == CITIZEN


def test_verify__a_not_yet_valid_token_is_rejected() -> None:
    at = tokens()
    error = rejected(at, issue(at), now=NOW - timedelta(minutes=1))
    assert error.diagnostics == "The access token is not valid before 2025-03-01T12:00:00Z"


def test_verify__a_token_from_another_issuer_is_rejected() -> None:
    keys = KeyRing.generate()
    other = AccessTokens(keys, issuer="https://evil.example", audience=AUDIENCE)
    error = rejected(tokens(keys), issue(other))
    assert error.diagnostics == ("The access token was issued by 'https://evil.example', not by this hub "
                                 "('https://hub.example.se')")


def test_verify__a_token_for_another_audience_is_rejected() -> None:
    keys = KeyRing.generate()
    other = AccessTokens(keys, issuer=ISSUER, audience="https://other.region.se/fhir")
    error = rejected(tokens(keys), issue(other))
    assert error.diagnostics == ("The access token is for 'https://other.region.se/fhir', not for this FHIR "
                                 "server ('https://hub.example.se/fhir')")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_verify__an_unsigned_alg_none_token_is_rejected(alg: str) -> None:
    at = tokens()
    header, payload, _ = segments(issue(at))
    error = rejected(at, encode_unsigned({**header, "alg": alg}, payload))
    assert error.diagnostics == "The access token is unsigned (alg 'none'); only ES256 and RS256 tokens are accepted"


@pytest.mark.parametrize("key_alg", ["ES256", "RS256"])
def test_verify__an_hmac_token_signed_with_the_public_key_is_rejected(key_alg: str) -> None:
    keys = KeyRing.generate(key_alg)
    at = tokens(keys)
    header, payload, _ = segments(issue(at))
    public_pem = keys.signing_key.as_pem(private=False)
    forged = sign_hmac({**header, "alg": "HS256"}, {**payload, "scope": "system/*.cruds"}, public_pem)
    error = rejected(at, forged)
    assert error.diagnostics == ("The access token is signed with HS256, a shared-secret algorithm the hub never "
                                 "uses; only ES256 and RS256 tokens are accepted")


def test_verify__a_token_with_an_unknown_kid_is_rejected() -> None:
    at = tokens()
    stranger = tokens()
    error = rejected(at, issue(stranger))
    assert error.diagnostics == (f"The access token was signed with key {stranger.keys.signing_kid!r}, which is "
                                 "not one of the hub's keys")


def test_verify__a_token_without_a_kid_is_rejected() -> None:
    at = tokens()
    header, payload, _ = segments(issue(at))
    del header["kid"]
    error = rejected(at, sign_with(at.keys.signing_key, header, payload))
    assert error.diagnostics == "The access token names no signing key (no 'kid' in its header)"


def test_verify__a_tampered_payload_is_rejected() -> None:
    at = tokens()
    token = issue(at)
    header_part, _, signature = token.split(".")
    _, payload, _ = segments(token)
    payload["ingang_principal"]["person_id"] = "197001011234"
    forged = f"{header_part}.{b64(json.dumps(payload).encode())}.{signature}"
    assert rejected(at, forged).diagnostics == "The access token's signature does not verify"


def test_verify__a_tampered_signature_is_rejected() -> None:
    at = tokens()
    head, body, signature = issue(at).split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    assert rejected(at, f"{head}.{body}.{flipped}").diagnostics == "The access token's signature does not verify"


def test_verify__a_token_signed_by_an_attackers_key_under_the_hubs_kid_is_rejected() -> None:
    at = tokens()
    header, payload, _ = segments(issue(at))
    attacker = ECKey.generate_key("P-256", private=True)
    forged = sign_with(attacker, {**header, "jwk": attacker.as_dict(private=False)}, payload)
    assert rejected(at, forged).diagnostics == "The access token's signature does not verify"


def test_verify__an_algorithm_that_does_not_fit_the_key_is_rejected() -> None:
    at = tokens(KeyRing.generate("ES256"))
    header, payload, _ = segments(issue(at))
    error = rejected(at, encode_unsigned({**header, "alg": "RS256"}, payload, "c2ln"))
    assert error.diagnostics == (f"The access token's algorithm RS256 does not match its key "
                                 f"{at.keys.signing_kid!r}, which signs with ES256")


def test_verify__an_unaccepted_algorithm_is_rejected() -> None:
    at = tokens()
    header, payload, _ = segments(issue(at))
    error = rejected(at, encode_unsigned({**header, "alg": "PS256"}, payload, "c2ln"))
    assert error.diagnostics == "The access token's algorithm 'PS256' is not accepted; only ES256 and RS256 are"


def test_verify__an_id_token_is_not_accepted_as_an_access_token() -> None:
    at = tokens()
    id_token = at.issue_id_token(client_id="app", subject="s", now=NOW)
    error = rejected(at, id_token)
    assert error.diagnostics == "The token has type 'JWT', not 'at+jwt': it is not an access token"


def test_verify__a_token_without_a_principal_is_rejected() -> None:
    at = tokens()
    header, payload, _ = segments(issue(at))
    del payload["ingang_principal"]
    error = rejected(at, sign_with(at.keys.signing_key, header, payload))
    assert error.diagnostics == "The access token lacks the 'ingang_principal' claim"


def test_verify__a_token_signed_by_a_retired_key_still_verifies_until_the_key_is_dropped() -> None:
    old = generate_private_jwk("ES256", kid="2024")
    new = generate_private_jwk("RS256", kid="2025")
    before = KeyRing.from_jwks({"keys": [old]})
    token = issue(tokens(before))
    retired = {k: v for k, v in old.items() if k != "d"}
    rotated = KeyRing.from_jwks({"keys": [new, retired], "signing_kid": "2025"})
    assert rotated.signing_kid == "2025"
    assert tokens(rotated).verify_access_token(token, now=NOW).principal == CITIZEN
    assert tokens(rotated).keys.signing_alg == "RS256"
    dropped = KeyRing.from_jwks({"keys": [new]})
    assert rejected(tokens(dropped), token).diagnostics == ("The access token was signed with key '2024', which "
                                                            "is not one of the hub's keys")


def test_issue__the_token_carries_the_claims_rfc_9068_and_smart_ask_for() -> None:
    at = tokens()
    header, payload, _ = segments(issue(at, scope="patient/*.rs openid", patient="p1"))
    assert header["typ"] == "at+jwt" and header["kid"] == at.keys.signing_kid and header["alg"] == "ES256"
    assert {"iss", "aud", "exp", "nbf", "iat", "jti", "sub", "client_id", "scope", "patient"} <= set(payload)
    assert payload["exp"] - payload["iat"] == 600
    assert Scopes.parse(payload["scope"]).allows("Patient", "r", "patient")
