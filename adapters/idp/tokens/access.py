"""Issue the hub's short-lived access tokens and ID tokens, and verify access tokens strictly.

An access token is a JWT (RFC 9068, `typ: at+jwt`) the hub signs with its current key; it
carries the SMART scopes, the launch context and the Principal, so any replica can authorize a
request from the token alone. Verification decides the algorithm from the hub's own key, never
from the token: `alg: none` and HMAC tokens are refused before any key is touched, which closes
the "HS256 signed with the public key" confusion. Every refusal is an `Unauthorized` whose
message says exactly what was wrong, because a client developer has nothing else to go on.
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5
https://www.rfc-editor.org/rfc/rfc9068, https://www.rfc-editor.org/rfc/rfc8725 (JWT BCP)
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError

from adapters.idp.tokens.claims import PrincipalClaimError, principal_from_claim, principal_to_claim
from adapters.idp.tokens.keys import SIGNING_ALGORITHMS, KeyRing, algorithm_of
from adapters.idp.tokens.scopes import ScopeError, Scopes
from cases.principals import Principal
from fhir_api.outcomes import Unauthorized

PRINCIPAL_CLAIM = "ingang_principal"
ACCESS_TOKEN_TYPE = "at+jwt"
MISSING_TOKEN = "No access token was sent; send 'Authorization: Bearer <token>'"
_REQUIRED = ("iss", "aud", "exp", "iat", "jti", "client_id", "scope", PRINCIPAL_CLAIM)


@dataclass(frozen=True)
class AccessContext:
    """What a verified access token says: who acts, with which scopes, in which launch context."""

    principal: Principal
    scopes: Scopes
    client_id: str
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None
    subject: str = ""
    token_id: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and what the token response says about it."""

    token: str
    token_id: str
    expires_in: int


def _b64json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _show(value: object) -> str:
    # Echo what the token said, but never a novel's worth of it.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reject(message: str, *, missing: bool = False) -> Unauthorized:
    # RFC 6750 §3: no error code when no token came, invalid_token otherwise.
    if missing:
        challenge = 'Bearer realm="ingang"'
    else:
        challenge = 'Bearer realm="ingang", error="invalid_token", error_description="{}"'.format(
            message.replace('"', "'").encode("ascii", "replace").decode("ascii"))
    return Unauthorized(message, headers={"WWW-Authenticate": challenge})


class AccessTokens:
    """Sign and verify the hub's access tokens for one issuer and one FHIR base (the audience)."""

    def __init__(self, keys: KeyRing, *, issuer: str, audience: str,
                 ttl: timedelta = timedelta(minutes=10), leeway: timedelta = timedelta(seconds=30)) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.leeway = leeway.total_seconds()

    def issue(self, principal: Principal, scopes: Scopes, *, client_id: str, now: datetime,
              subject: str = "", patient: str | None = None, encounter: str | None = None,
              fhir_user: str | None = None, ttl: timedelta | None = None) -> IssuedToken:
        """Sign an access token for the principal; the FHIR base URL is its audience."""
        lifetime = int((ttl or self.ttl).total_seconds())
        iat = int(now.timestamp())
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": subject or jti, "client_id": client_id,
            "iat": iat, "nbf": iat, "exp": iat + lifetime, "jti": jti, "scope": str(scopes),
            PRINCIPAL_CLAIM: principal_to_claim(principal),
        }
        for name, value in (("patient", patient), ("encounter", encounter), ("fhirUser", fhir_user)):
            if value:
                claims[name] = value
        return IssuedToken(self._sign(claims, ACCESS_TOKEN_TYPE), jti, lifetime)

    def issue_id_token(self, *, client_id: str, subject: str, now: datetime, nonce: str | None = None,
                       fhir_user: str | None = None) -> str:
        """Sign an OpenID Connect ID token for the app (audience: the client, not the FHIR server)."""
        iat = int(now.timestamp())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": subject, "aud": client_id, "azp": client_id,
                                  "iat": iat, "auth_time": iat, "exp": iat + int(self.ttl.total_seconds())}
        if nonce:
            claims["nonce"] = nonce
        if fhir_user:
            claims["fhirUser"] = fhir_user
        return self._sign(claims, "JWT")

    def _sign(self, claims: dict[str, Any], typ: str) -> str:
        header = {"alg": self.keys.signing_alg, "kid": self.keys.signing_kid, "typ": typ}
        return jwt.encode(header, claims, self.keys.signing_key, algorithms=[self.keys.signing_alg])

    def verify_authorization(self, authorization: str | None, *, now: datetime) -> AccessContext:
        """Verify the token in an `Authorization: Bearer …` header (RFC 6750 §2.1)."""
        if not authorization or not authorization.strip():
            raise _reject(MISSING_TOKEN, missing=True)
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _reject(f"The Authorization header uses the {_show(scheme)} scheme; send "
                          "'Authorization: Bearer <token>'", missing=True)
        return self.verify_access_token(token.strip(), now=now)

    def verify_access_token(self, token: str | None, *, now: datetime) -> AccessContext:
        """Return what a valid access token says, or raise Unauthorized saying why it is not valid."""
        if not token:
            raise _reject(MISSING_TOKEN, missing=True)
        header = self._read_header(token)
        alg, kid = header["alg"], header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _reject("The access token names no signing key (no 'kid' in its header)")
        key = self.keys.key_for(kid)
        if key is None:
            raise _reject(f"The access token was signed with key {_show(kid)}, which is not one of the hub's keys")
        if algorithm_of(key) != alg:
            raise _reject(f"The access token's algorithm {alg} does not match its key {_show(kid)}, "
                          f"which signs with {algorithm_of(key)}")
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except BadSignatureError:
            raise _reject("The access token's signature does not verify") from None
        except JoseError as exc:
            raise _reject(f"The access token is malformed: {exc.description or exc.error}") from None
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise _reject(f"The token has type {_show(header.get('typ'))}, not {ACCESS_TOKEN_TYPE!r}: "
                          "it is not an access token")
        self._check_claims(claims, now)
        return self._context(claims)

    def _read_header(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise _reject("The access token is malformed: a signed JWT has three dot-separated parts "
                          f"(header.payload.signature), this one has {len(parts)}")
        try:
            header = _b64json(parts[0])
        except (ValueError, binascii.Error, UnicodeError):
            raise _reject("The access token is malformed: its header is not base64url-encoded JSON") from None
        if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
            raise _reject("The access token is malformed: its header has no 'alg'")
        alg = header["alg"]
        accepted = " and ".join(SIGNING_ALGORITHMS)
        if alg.lower() == "none":
            raise _reject(f"The access token is unsigned (alg 'none'); only {accepted} tokens are accepted")
        if alg.upper().startswith("HS"):
            raise _reject(f"The access token is signed with {alg}, a shared-secret algorithm the hub never "
                          f"uses; only {accepted} tokens are accepted")
        if alg not in SIGNING_ALGORITHMS:
            raise _reject(f"The access token's algorithm {_show(alg)} is not accepted; only {accepted} are")
        return header

    def _check_claims(self, claims: dict[str, Any], now: datetime) -> None:
        for name in _REQUIRED:
            if name not in claims:
                raise _reject(f"The access token lacks the {name!r} claim")
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _reject(f"The access token's {name!r} claim is not a number of seconds")
        if claims["iss"] != self.issuer:
            raise _reject(f"The access token was issued by {_show(claims['iss'])}, not by this hub "
                          f"({self.issuer!r})")
        aud = claims["aud"]
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise _reject(f"The access token is for {_show(aud)}, not for this FHIR server ({self.audience!r})")
        moment = now.timestamp()
        if moment > claims["exp"] + self.leeway:
            raise _reject(f"The access token expired at {_iso(claims['exp'])}")
        if "nbf" in claims and moment + self.leeway < claims["nbf"]:
            raise _reject(f"The access token is not valid before {_iso(claims['nbf'])}")

    def _context(self, claims: dict[str, Any]) -> AccessContext:
        try:
            principal = principal_from_claim(claims[PRINCIPAL_CLAIM])
        except PrincipalClaimError as exc:
            raise _reject(f"The access token's principal claim is invalid: {exc}") from None
        if not isinstance(claims["scope"], str) or not isinstance(claims["client_id"], str):
            raise _reject("The access token's 'scope' and 'client_id' claims must be strings")
        try:
            scopes = Scopes.parse(claims["scope"])
        except ScopeError as exc:
            raise _reject(f"The access token's scope is invalid: {exc}") from None
        text = {k: claims[k] if isinstance(claims.get(k), str) else None for k in ("patient", "encounter", "fhirUser")}
        return AccessContext(
            principal=principal, scopes=scopes, client_id=claims["client_id"], patient=text["patient"],
            encounter=text["encounter"], fhir_user=text["fhirUser"], subject=str(claims.get("sub", "")),
            token_id=str(claims["jti"]), expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
