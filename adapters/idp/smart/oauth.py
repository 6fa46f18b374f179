"""Authenticate clients at the token endpoint and check PKCE, answering in RFC 6749 error terms.

A client authenticates exactly one way, the way it was registered: public apps send only their
client_id, symmetric clients HTTP Basic, asymmetric clients and backend services a JWT signed
with a key from their registered JWKS. The assertion rules are SMART Backend Services': iss and
sub are the client, aud is the token endpoint, it lives at most five minutes and its jti is
never accepted twice while it could still be valid.
https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html
https://hl7.org/fhir/smart-app-launch/backend-services.html#authenticating-to-the-token-endpoint
https://www.rfc-editor.org/rfc/rfc6749#section-5.2, https://www.rfc-editor.org/rfc/rfc7636
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from adapters.idp.smart.clients import ClientRegistration, ClientRegistry
from adapters.idp.smart.one_time import ASSERTION_JTI, OneTimeStore

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# SMART requires RS384 and ES384; the others are as strong and common in client libraries.
ASSERTION_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256", "RS512", "ES512")
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
LEEWAY = timedelta(seconds=30)
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class OAuthError(Exception):
    """An RFC 6749 error: the code a client's library switches on and a description for its developer."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def as_json(self) -> dict[str, str]:
        """Return the RFC 6749 §5.2 error body."""
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    """Say the client could not be authenticated (401, RFC 6749 §5.2)."""
    return OAuthError("invalid_client", description, status=401)


def s256(verifier: str) -> str:
    """Return the S256 code challenge of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_pkce(verifier: str | None, challenge: str) -> None:
    """Raise invalid_grant unless the verifier is well-formed and hashes to the code's challenge."""
    if not verifier:
        raise OAuthError("invalid_grant", "code_verifier is required: the authorization used PKCE")
    if not _VERIFIER.match(verifier):
        raise OAuthError("invalid_grant", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge of the authorization")


def _part(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii")))


def _registered(clients: ClientRegistry, client_id: str) -> ClientRegistration:
    client = clients.get(client_id)
    if client is None:
        raise invalid_client(f"Client {client_id!r} is not registered with this hub")
    return client


def authenticate_client(form: Mapping[str, str], authorization: str | None, *, clients: ClientRegistry,
                        token_endpoint: str, one_time: OneTimeStore, now: datetime) -> ClientRegistration:
    """Return the client that made the token request, authenticated the way it was registered."""
    form_id = form.get("client_id")
    basic = authorization is not None and authorization.strip().lower().startswith("basic ")
    assertion = form.get("client_assertion")
    if basic and assertion:
        raise OAuthError("invalid_request", "Use one client authentication method, not Basic and an assertion")
    if basic:
        assert authorization is not None
        client_id, secret = _basic_credentials(authorization)
        client = _registered(clients, client_id)
        if client.auth_method != "client_secret_basic":
            raise invalid_client(f"Client {client_id!r} is registered for {client.auth_method}, "
                                 "not client_secret_basic")
        if not client.check_secret(secret):
            raise invalid_client(f"The client secret for {client_id!r} is wrong")
    elif assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise invalid_client(f"client_assertion_type must be {JWT_BEARER}")
        client = verify_client_assertion(assertion, clients=clients, token_endpoint=token_endpoint,
                                         one_time=one_time, now=now)
    else:
        if not form_id:
            raise invalid_client("The request names no client: send client_id, or authenticate")
        client = _registered(clients, form_id)
        if client.auth_method != "none":
            raise invalid_client(f"Client {form_id!r} must authenticate with {client.auth_method}")
    if form_id and form_id != client.client_id:
        raise invalid_client(f"client_id {form_id!r} is not the client that authenticated ({client.client_id!r})")
    return client


def _basic_credentials(authorization: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(authorization.strip()[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("The Basic credentials are not base64 of client_id:client_secret") from None
    client_id, sep, secret = raw.partition(":")
    if not sep or not client_id:
        raise invalid_client("The Basic credentials are not base64 of client_id:client_secret")
    # RFC 6749 §2.3.1: both halves are form-urlencoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)


def verify_client_assertion(assertion: str, *, clients: ClientRegistry, token_endpoint: str,
                            one_time: OneTimeStore, now: datetime) -> ClientRegistration:
    """Verify a private_key_jwt client assertion and return the client it authenticates."""
    parts = assertion.split(".")
    try:
        if len(parts) != 3:
            raise ValueError
        header, unverified = _part(parts[0]), _part(parts[1])
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid_client("The client assertion is not a signed JWT (header.payload.signature)") from None
    if not isinstance(header, dict) or not isinstance(unverified, dict):
        raise invalid_client("The client assertion's header and payload must be JSON objects")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ASSERTION_ALGORITHMS:
        raise invalid_client(f"The client assertion's algorithm {alg!r} is not accepted; use one of "
                             f"{', '.join(ASSERTION_ALGORITHMS)}")
    if not isinstance(kid, str) or not kid:
        raise invalid_client("The client assertion's header has no 'kid'")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or not client_id:
        raise invalid_client("The client assertion has no 'iss' (the client_id)")
    client = _registered(clients, client_id)
    if client.auth_method != "private_key_jwt":
        raise invalid_client(f"Client {client_id!r} is registered for {client.auth_method}, not private_key_jwt")
    try:
        key = client.key_set().get_by_kid(kid)
    except (JoseError, ValueError):
        raise invalid_client(f"Key {kid!r} is not in the JWKS registered for client {client_id!r}") from None
    try:
        claims = jwt.decode(assertion, key, algorithms=[alg]).claims
    except BadSignatureError:
        raise invalid_client("The client assertion's signature does not verify") from None
    except JoseError as exc:
        raise invalid_client(f"The client assertion cannot be verified: {exc.description or exc.error}") from None
    _check_assertion_claims(claims, client_id, token_endpoint, now)
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if not one_time.claim(ASSERTION_JTI, f"{client_id}\x00{claims['jti']}", expires_at=expires + LEEWAY, now=now):
        raise invalid_client("The client assertion's jti was already used; sign a new assertion per request")
    return client


def _check_assertion_claims(claims: dict[str, Any], client_id: str, token_endpoint: str, now: datetime) -> None:
    if claims.get("sub") != client_id:
        raise invalid_client("The client assertion's 'sub' must equal its 'iss', the client_id")
    aud = claims.get("aud")
    if not (aud == token_endpoint or (isinstance(aud, list) and token_endpoint in aud)):
        raise invalid_client(f"The client assertion's 'aud' is {aud!r}; it must be the token endpoint "
                             f"{token_endpoint!r}")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise invalid_client("The client assertion needs a numeric 'exp'")
    moment = now.timestamp()
    if moment > exp + LEEWAY.total_seconds():
        raise invalid_client("The client assertion has expired")
    if exp - moment > (MAX_ASSERTION_LIFETIME + LEEWAY).total_seconds():
        raise invalid_client("The client assertion's 'exp' is more than five minutes ahead")
    nbf = claims.get("nbf")
    if isinstance(nbf, (int, float)) and moment + LEEWAY.total_seconds() < nbf:
        raise invalid_client("The client assertion is not valid yet ('nbf' is in the future)")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise invalid_client("The client assertion needs a 'jti'")
