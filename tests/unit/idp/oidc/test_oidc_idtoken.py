"""ID token verification: only genuine, current tokens for this hub and this login pass."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from oidc_fake_provider import CLIENT_ID, ISSUER, FakeProvider, ec_key, rsa_key, unsigned_token

from adapters.idp.oidc.errors import InvalidIdToken
from adapters.idp.oidc.idtoken import verify_id_token

NONCE = "n-123"


@pytest.fixture
def op() -> FakeProvider:
    provider = FakeProvider()
    provider.nonce = NONCE
    return provider


def verify(op: FakeProvider, token: str, *, skew: float = 60, now: float | None = None, **kwargs: Any) -> dict[str, Any]:
    rp = op.relying_party()
    return verify_id_token(token, provider=rp.provider, client_id=CLIENT_ID, nonce=kwargs.pop("nonce", NONCE),
                           now=time.time() if now is None else now, clock_skew=skew, **kwargs)


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_a_token_signed_with_an_allowed_rsa_algorithm_is_accepted(op: FakeProvider, alg: str) -> None:
    op.keys = [rsa_key("k-" + alg, alg)]
    assert verify(op, op.id_token())["sub"] == "user-1"


def test_a_token_signed_with_es256_is_accepted(op: FakeProvider) -> None:
    op.keys = [ec_key("ec-1")]
    assert verify(op, op.id_token())["given_name"] == "Tolvan"


def test_an_unsigned_token_is_rejected_before_any_key_is_fetched(op: FakeProvider) -> None:
    token = unsigned_token({"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "nonce": NONCE})
    with pytest.raises(InvalidIdToken, match="signed with 'none'"):
        verify(op, token)
    assert not any(r.url.path == "/jwks" for r in op.requests)


def test_a_token_signed_with_the_client_secret_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="signed with 'HS256'; the hub accepts only RS256, ES256, PS256"):
        verify(op, op.hs256_token())


def test_an_algorithm_left_out_of_the_configured_list_is_rejected(op: FakeProvider) -> None:
    op.keys = [ec_key("ec-1")]
    with pytest.raises(InvalidIdToken, match="'ES256'"):
        verify(op, op.id_token(), allowed_algs=("RS256",))


def test_a_token_signed_by_a_key_the_provider_does_not_publish_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="key 'stranger'"):
        verify(op, op.id_token(key=rsa_key("stranger")))


def test_a_forged_signature_under_a_published_key_id_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="signature does not verify"):
        verify(op, op.id_token(key=rsa_key("k1", fresh=True)))


def test_a_token_without_a_key_id_is_verified_when_the_provider_has_one_key(op: FakeProvider) -> None:
    key = rsa_key("")
    op.keys = [key]
    assert verify(op, op.id_token(key=key))["sub"] == "user-1"


def test_a_token_from_another_issuer_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match=re.escape("issued by 'https://evil.example', not by 'https://op.example.se'")):
        verify(op, op.id_token(iss="https://evil.example"))


def test_a_token_for_another_client_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="meant for 'another-app'"):
        verify(op, op.id_token(aud="another-app"))


def test_a_token_for_several_audiences_needs_this_hub_as_authorized_party(op: FakeProvider) -> None:
    assert verify(op, op.id_token(aud=[CLIENT_ID, "other"], azp=CLIENT_ID))["sub"] == "user-1"
    with pytest.raises(InvalidIdToken, match="no azp claim"):
        verify(op, op.id_token(aud=[CLIENT_ID, "other"]))


def test_a_token_with_another_nonce_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="nonce is not the one this login sent"):
        verify(op, op.id_token(nonce="replayed"))


def test_a_token_without_a_nonce_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="no nonce claim"):
        verify(op, op.id_token(nonce=None))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub"])
def test_a_token_missing_a_required_claim_is_rejected(op: FakeProvider, claim: str) -> None:
    with pytest.raises(InvalidIdToken, match=f"no {claim} claim"):
        verify(op, op.id_token(**{claim: None}))


def test_an_expired_token_is_accepted_within_the_clock_skew_and_rejected_beyond_it(op: FakeProvider) -> None:
    now = time.time()
    token = op.id_token(iat=int(now) - 400, exp=int(now) - 30)
    assert verify(op, token, skew=60, now=now)["sub"] == "user-1"
    with pytest.raises(InvalidIdToken, match="expired"):
        verify(op, token, skew=10, now=now)


def test_a_token_not_valid_yet_is_rejected_beyond_the_clock_skew(op: FakeProvider) -> None:
    now = time.time()
    token = op.id_token(nbf=int(now) + 120)
    with pytest.raises(InvalidIdToken, match="not valid yet"):
        verify(op, token, skew=60, now=now)
    assert verify(op, token, skew=180, now=now)["sub"] == "user-1"


def test_a_token_issued_in_the_future_is_rejected(op: FakeProvider) -> None:
    with pytest.raises(InvalidIdToken, match="issued in the future"):
        verify(op, op.id_token(iat=int(time.time()) + 600), skew=60)


def test_a_token_is_tied_to_its_access_token_by_at_hash(op: FakeProvider) -> None:
    token = op.id_token(at_hash="AAAAAAAAAAAAAAAAAAAAAA")
    with pytest.raises(InvalidIdToken, match="does not belong to the access token"):
        verify(op, token, access_token="at-1")


@pytest.mark.parametrize(("token", "reason"), [
    ("a.b.c.d.e", "encrypted"),
    ("only-one-part", "not a signed JWT"),
    ("!!!.e30.sig", "header is not base64url-encoded JSON"),
    ("WzFd.e30.sig", "header is not a JSON object"),
])
def test_something_that_is_not_a_signed_jwt_is_rejected(op: FakeProvider, token: str, reason: str) -> None:
    with pytest.raises(InvalidIdToken, match=reason):
        verify(op, token)
