"""Verify an ID token: signature by a published key, algorithm, issuer, audience, times, nonce.

The algorithm comes from the token's own header, so it is checked against a fixed allow-list
before anything else: `none` would mean no signature at all and HS256 would let anyone who
knows the client secret mint tokens (RFC 8725 §3.1). Claim checks are authlib's OIDC ID
token rules over joserfc, with a configurable clock skew; every failure is an
`InvalidIdToken` that says which check failed and never quotes the token.
https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation
"""

from __future__ import annotations

import base64
import json
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)

from adapters.idp.oidc.errors import InvalidIdToken
from adapters.idp.oidc.provider import KEY_TYPE_FOR_ALG, Provider

ALLOWED_ALGS: tuple[str, ...] = tuple(KEY_TYPE_FOR_ALG)


def read_header(token: str) -> dict[str, Any]:
    """Return the unverified JOSE header of a compact JWS, to learn its alg and kid."""
    parts = token.split(".")
    if len(parts) == 5:
        raise InvalidIdToken("the ID token is encrypted, which the hub does not accept")
    if len(parts) != 3:
        raise InvalidIdToken("the ID token is not a signed JWT")
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        raise InvalidIdToken("the ID token's header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise InvalidIdToken("the ID token's header is not a JSON object")
    return header


def verify_id_token(token: str, *, provider: Provider, client_id: str, nonce: str, now: float,
                    clock_skew: float, allowed_algs: tuple[str, ...] = ALLOWED_ALGS,
                    access_token: str | None = None) -> dict[str, Any]:
    """Return the claims of a valid ID token for this client and login, or raise InvalidIdToken."""
    header = read_header(token)
    alg = header.get("alg")
    if alg not in allowed_algs or alg not in ALLOWED_ALGS:
        raise InvalidIdToken(
            f"the ID token is signed with {alg!r}; the hub accepts only {', '.join(allowed_algs)}")
    kid = header.get("kid")
    key = provider.signing_key(kid if isinstance(kid, str) else None, alg)
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except BadSignatureError:
        raise InvalidIdToken("the ID token's signature does not verify with the provider's key") from None
    except (JoseError, ValueError) as exc:
        raise InvalidIdToken(f"the ID token could not be read ({type(exc).__name__})") from None
    claims = CodeIDToken(
        decoded.claims, decoded.header,
        options={"iss": {"essential": True, "value": provider.issuer},
                 "aud": {"essential": True, "value": client_id}},
        params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=int(now), leeway=int(clock_skew))
    except ExpiredTokenError:
        raise InvalidIdToken(f"the ID token expired (allowing {clock_skew:g} s of clock skew)") from None
    except MissingClaimError as exc:
        raise InvalidIdToken(f"the ID token has no {exc.claim} claim") from None
    except InvalidClaimError as exc:
        raise InvalidIdToken(_invalid_claim(exc.claim, decoded.claims, provider.issuer, client_id,
                                            clock_skew)) from None
    return dict(decoded.claims)


def _invalid_claim(claim: str, claims: dict[str, Any], issuer: str, client_id: str, skew: float) -> str:
    """Say, for the person fixing it, what an invalid registered claim means."""
    if claim == "iss":
        return f"the ID token was issued by {claims.get('iss')!r}, not by {issuer!r}"
    if claim == "aud":
        return f"the ID token is meant for {claims.get('aud')!r}, not for this hub ({client_id!r})"
    if claim == "nonce":
        return "the ID token's nonce is not the one this login sent; it may be replayed from another login"
    if claim == "nbf":
        return f"the ID token is not valid yet (allowing {skew:g} s of clock skew)"
    if claim == "iat":
        return f"the ID token says it was issued in the future (allowing {skew:g} s of clock skew)"
    if claim == "at_hash":
        return "the ID token does not belong to the access token it came with"
    if claim == "azp":
        return f"the ID token was issued to another party than this hub ({client_id!r})"
    return f"the ID token's {claim} claim is not valid"
