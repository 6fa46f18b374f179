"""An OpenID provider in memory, behind httpx.MockTransport, that the unit tests can bend.

It signs real tokens with real keys, so the relying party's checks run for real; each test
changes one thing (a claim, the algorithm, a key, an HTTP status) and sees it refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from adapters.idp.oidc import OidcRelyingParty, OidcSettings

ISSUER = "https://op.example.se"
CLIENT_ID = "ingang-hub"
CLIENT_SECRET = "s3cret"
REDIRECT_URI = "https://hub.example.se/auth/callback"


_KEYS: dict[tuple[str, str], RSAKey] = {}


def rsa_key(kid: str, alg: str = "RS256", *, fresh: bool = False) -> RSAKey:
    """Return an RSA signing key with this key id; the same one each time unless `fresh`."""
    # RSA key generation costs a tenth of a second; most tests only need some key.
    if fresh or (kid, alg) not in _KEYS:
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": alg, "use": "sig"})
        if fresh:
            return key
        _KEYS[(kid, alg)] = key
    return _KEYS[(kid, alg)]


def ec_key(kid: str) -> ECKey:
    """Return a fresh P-256 signing key with this key id."""
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


class FakeProvider:
    """Discovery, JWKS, token and userinfo endpoints over keys and claims the test controls."""

    def __init__(self) -> None:
        self.keys: list[Key] = [rsa_key("k1")]
        self.document: dict[str, Any] = {
            "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks", "userinfo_endpoint": f"{ISSUER}/me",
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"]}
        self.token_answer: Callable[[dict[str, str]], httpx.Response] | None = None
        self.userinfo: dict[str, Any] = {}
        self.requests: list[httpx.Request] = []
        self.nonce = ""
        self.claims: dict[str, Any] = {"sub": "user-1", "given_name": "Tolvan"}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.document)
        if path == "/jwks":
            return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})
        if path == "/token":
            form = dict(parse_qsl(request.content.decode()))
            if self.token_answer is not None:
                return self.token_answer(form)
            return httpx.Response(200, json={"access_token": "at-1", "token_type": "Bearer",
                                             "id_token": self.id_token()})
        if path == "/me":
            return httpx.Response(200, json=self.userinfo)
        return httpx.Response(404, json={"error": "not_found"})

    def id_token(self, *, key: Key | None = None, alg: str | None = None, header: dict[str, Any] | None = None,
                 **overrides: Any) -> str:
        """Sign an ID token for the hub; keyword arguments replace or (with None) drop claims."""
        key = key or self.keys[0]
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": self.nonce,
                  **self.claims}
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        alg = alg or str(key.get("alg") or "RS256")
        hdr = {"alg": alg, **({"kid": key.kid} if key.kid else {}), **(header or {})}
        return jwt.encode(hdr, claims, key, algorithms=[alg])

    def relying_party(self, *, clock: Callable[[], float] = time.time, **overrides: Any) -> OidcRelyingParty:
        """Return a relying party that talks to this provider only."""
        values: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "redirect_uri": REDIRECT_URI}
        values.update(overrides)
        http = httpx.Client(transport=httpx.MockTransport(self.handle))
        return OidcRelyingParty(OidcSettings(**values), http=http, clock=clock)

    def hs256_token(self) -> str:
        """Sign a token with the client secret, as an attacker who knows it would."""
        key = OctKey.import_key(CLIENT_SECRET.encode() * 4)
        now = int(time.time())
        return jwt.encode({"alg": "HS256"}, {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "iat": now,
                                             "exp": now + 60, "nonce": self.nonce}, key, algorithms=["HS256"])


def unsigned_token(claims: dict[str, Any]) -> str:
    """Write an `alg: none` token, which carries no signature at all."""
    import base64

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."
