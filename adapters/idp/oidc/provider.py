"""Know an OpenID provider: its discovery document and its signing keys, fetched and cached.

Keys are refetched when a token names a key id the cached set lacks, because that is how a
provider rotates keys without telling anyone (OIDC Core §10.1.1). Such forced refetches are
rate limited, so tokens with made-up key ids cannot make the hub hammer the provider. Every
HTTP call has a timeout, and every transport or format failure becomes a `LoginError`.
https://openid.net/specs/openid-connect-discovery-1_0.html
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from adapters.idp.oidc.errors import InvalidIdToken, ProviderMisconfigured, ProviderUnavailable

# Key types a signature algorithm in the allow-list can use (RFC 7518 §3.1).
KEY_TYPE_FOR_ALG = {"RS256": "RSA", "ES256": "EC", "PS256": "RSA"}


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a provider's discovery document the relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    signing_algs: tuple[str, ...]
    issuer_in_response: bool

    @classmethod
    def from_document(cls, document: Mapping[str, Any], expected_issuer: str) -> ProviderMetadata:
        """Read and check a discovery document; the issuer must be exactly the configured one."""
        # Discovery §4.3: a document naming another issuer must not be used, or one provider
        # could speak for another.
        if document.get("issuer") != expected_issuer:
            raise ProviderMisconfigured(
                f"the discovery document names the issuer {document.get('issuer')!r}, "
                f"but the hub is configured for {expected_issuer!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(name), str):
                raise ProviderMisconfigured(f"the discovery document has no {name}")
        pkce = document.get("code_challenge_methods_supported")
        if isinstance(pkce, list) and "S256" not in pkce:
            raise ProviderMisconfigured("the identity provider does not support PKCE with S256")
        algs = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        userinfo = document.get("userinfo_endpoint")
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
            signing_algs=tuple(a for a in algs if isinstance(a, str)),
            issuer_in_response=document.get("authorization_response_iss_parameter_supported") is True,
        )


def request_json(http: httpx.Client, method: str, url: str, what: str, timeout: float,
                 **kwargs: Any) -> tuple[int, Any]:
    """Make one HTTP call to the provider and return (status, JSON body); fail as a LoginError."""
    try:
        response = http.request(method, url, timeout=timeout, **kwargs)
    except httpx.TimeoutException:
        raise ProviderUnavailable(
            f"the identity provider did not answer the {what} request within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            f"the identity provider could not be reached for the {what} request ({type(exc).__name__})") from None
    if response.status_code >= 500:
        raise ProviderUnavailable(
            f"the identity provider answered the {what} request with HTTP {response.status_code}")
    try:
        return response.status_code, response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"the identity provider answered the {what} request with something other than JSON "
            f"(HTTP {response.status_code})") from None


class Provider:
    """One OpenID provider's metadata and keys, cached, shared by every login; thread-safe."""

    def __init__(self, issuer: str, http: httpx.Client, *, timeout: float, metadata_max_age: float,
                 jwks_max_age: float, jwks_refetch_cooldown: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self._http = http
        self._timeout = timeout
        self._metadata_max_age = metadata_max_age
        self._jwks_max_age = jwks_max_age
        self._cooldown = jwks_refetch_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: list[Key] = []
        self._keys_at: float | None = None
        self._forced_at: float | None = None
        self.jwks_fetches = 0

    def metadata(self) -> ProviderMetadata:
        """Return the provider's metadata, fetching the discovery document when it is stale."""
        with self._lock:
            now = self._clock()
            if self._metadata is None or now - self._metadata_at >= self._metadata_max_age:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                status, document = request_json(self._http, "GET", url, "discovery", self._timeout)
                if status != 200 or not isinstance(document, dict):
                    raise ProviderMisconfigured(f"the discovery document answered HTTP {status}")
                self._metadata = ProviderMetadata.from_document(document, self.issuer)
                self._metadata_at = now
            return self._metadata

    def signing_key(self, kid: str | None, alg: str) -> Key:
        """Return the published key that signed a token; refetch once if the key id is new."""
        jwks_uri = self.metadata().jwks_uri
        with self._lock:
            now = self._clock()
            stale = self._keys_at is None or now - self._keys_at >= self._jwks_max_age
            if stale:
                self._fetch_keys(jwks_uri, now)
            key = self._find(kid, alg)
            cooled_down = self._forced_at is None or now - self._forced_at >= self._cooldown
            if key is None and not stale and cooled_down:
                self._forced_at = now
                self._fetch_keys(jwks_uri, now)
                key = self._find(kid, alg)
        if key is None:
            raise InvalidIdToken(
                f"the ID token was signed with key {kid!r} ({alg}), which the identity provider does not publish")
        return key

    def _fetch_keys(self, jwks_uri: str, now: float) -> None:
        self.jwks_fetches += 1
        status, document = request_json(self._http, "GET", jwks_uri, "key set", self._timeout)
        if status != 200 or not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ProviderMisconfigured(f"the key set at {jwks_uri} is not a JWK set (HTTP {status})")
        keys = []
        for data in document["keys"]:
            # Skip, rather than fail on, keys for encryption or of kinds we never verify with:
            # a provider may publish those beside its signing keys.
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue
            if data.get("kty") not in ("RSA", "EC"):
                continue
            try:
                keys.append(JWKRegistry.import_key(data))
            except (JoseError, ValueError, TypeError):
                continue
        self._keys = keys
        self._keys_at = now

    def _find(self, kid: str | None, alg: str) -> Key | None:
        kty = KEY_TYPE_FOR_ALG[alg]
        usable = [k for k in self._keys if k.key_type == kty and k.get("alg") in (None, alg)]
        if kid is not None:
            return next((k for k in usable if k.kid == kid), None)
        # Without a kid the token can only be verified if the choice is unambiguous (Core §10.1).
        return usable[0] if len(usable) == 1 else None
