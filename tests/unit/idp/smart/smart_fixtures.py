"""Shared pieces for the SMART unit tests: registered clients, their keys, and assertion signing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey

from adapters.idp.smart import (
    ClientRegistration,
    InMemoryClientRegistry,
    InMemoryOneTimeStore,
    client_from_config,
)

TOKEN_ENDPOINT = "https://hub.example.se/auth/token"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "correct horse battery staple"


def backend_key(kid: str = "vg-2025", alg: str = "ES384") -> Key:
    """Return a private key of the kind a backend service registers (SMART: ES384 or RS384)."""
    if alg.startswith("ES"):
        return ECKey.generate_key("P-384", private=True, parameters={"kid": kid})
    return RSAKey.generate_key(2048, private=True, parameters={"kid": kid})


def registry(key: Key) -> InMemoryClientRegistry:
    """Return a registry with a public app, a symmetric app and a backend service using `key`."""
    return InMemoryClientRegistry([
        client_from_config({"client_id": "public-app", "redirect_uris": ["https://app.example/cb"],
                            "scope": "openid fhirUser launch/patient patient/*.rs offline_access"}),
        client_from_config({"client_id": "secret-app", "auth_method": "client_secret_basic", "client_secret": SECRET,
                            "redirect_uris": ["https://clinic.example/cb"], "scope": "launch user/*.rs"}),
        client_from_config({"client_id": "journal-vg", "auth_method": "private_key_jwt", "region": "VG",
                            "jwks": {"keys": [key.as_dict(private=False)]}, "scope": "system/*.rs system/Task.cu"}),
    ])


def assertion(key: Key, *, client_id: str = "journal-vg", aud: Any = TOKEN_ENDPOINT, jti: str | None = None,
              lifetime: timedelta = timedelta(minutes=4), alg: str = "ES384", now: datetime = NOW,
              **claims: Any) -> str:
    """Sign a SMART Backend Services client assertion."""
    body: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": aud, "jti": jti or secrets.token_hex(8),
                            "exp": int((now + lifetime).timestamp())}
    body.update(claims)
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key, algorithms=[alg])


def fresh_store() -> InMemoryOneTimeStore:
    """Return an empty one-time store."""
    return InMemoryOneTimeStore()


def client_of(reg: InMemoryClientRegistry, client_id: str) -> ClientRegistration:
    """Return a registered client or fail."""
    client = reg.get(client_id)
    assert client is not None
    return client
