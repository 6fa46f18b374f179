"""Know the apps and systems that may ask the hub for tokens, and how each must authenticate.

Clients are registered by configuration (a JSON or YAML file the region reviews), not by
dynamic registration: a region decides which apps run against its patients' data. Each client
has one authentication method (none for public apps, client_secret_basic, or private_key_jwt
with a registered JWKS), the grant types it may use, the scopes it may be given, and, for a
regional system, the region its tokens are limited to. Secrets are kept as SHA-256 digests.
https://hl7.org/fhir/smart-app-launch/client-authentication.html
https://hl7.org/fhir/smart-app-launch/backend-services.html#registering-a-smart-backend-service-communicating-public-keys
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from adapters.idp.tokens.scopes import ScopeError, Scopes
from cases.principals import CARE_PURPOSE

AUTH_METHODS = ("none", "client_secret_basic", "private_key_jwt")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
LOGIN_KINDS = ("citizen", "clinician")


class ClientConfigError(ValueError):
    """A client registration the hub refuses, naming the client and the field."""


@dataclass(frozen=True)
class ClientRegistration:
    """One registered app or system."""

    client_id: str
    auth_method: str
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    scope: str = ""
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    secret_sha256: str = ""
    jwks: Mapping[str, Any] = field(default_factory=dict)
    region: str = ""
    login: str = ""
    # The purposes of the commissions a clinician may log in to this app under. Only a commission
    # for care may open patients' records (PDL); an app for a region's administrators, such as the
    # statistics page, accepts the purposes their commissions have.
    commission_purposes: tuple[str, ...] = (CARE_PURPOSE,)

    @property
    def allowed_scopes(self) -> Scopes:
        """Return the most this client may ever be granted."""
        return Scopes.parse(self.scope)

    @property
    def is_public(self) -> bool:
        """Tell whether the client cannot keep a secret (a browser or native app)."""
        return self.auth_method == "none"

    def check_secret(self, secret: str) -> bool:
        """Compare a presented secret with the registered digest, in constant time."""
        if not self.secret_sha256:
            return False
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, self.secret_sha256)

    def key_set(self) -> KeySet:
        """Return the client's registered public keys, for its signed assertions."""
        return KeySet.import_key_set(dict(self.jwks))  # type: ignore[arg-type]


class ClientRegistry(Protocol):
    """Look clients up by id."""

    def get(self, client_id: str) -> ClientRegistration | None:
        """Return the client's registration, or None if it is not registered."""


class InMemoryClientRegistry:
    """Clients held in a dict, loaded from configuration at start-up."""

    def __init__(self, clients: Iterable[ClientRegistration] = ()) -> None:
        self._clients: dict[str, ClientRegistration] = {}
        for client in clients:
            self.add(client)

    def add(self, client: ClientRegistration) -> None:
        """Register one more client; its id must be new."""
        if client.client_id in self._clients:
            raise ClientConfigError(f"client {client.client_id!r} is registered twice")
        self._clients[client.client_id] = client

    def get(self, client_id: str) -> ClientRegistration | None:
        """Return the client's registration, or None if it is not registered."""
        return self._clients.get(client_id)

    def __len__(self) -> int:
        return len(self._clients)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ClientConfigError(f"{where} must be a list of strings")


def _check_redirect_uri(uri: str, where: str) -> None:
    # RFC 6749 §3.1.2: absolute, no fragment. Plain http only to the app's own machine.
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or (parts.scheme in ("http", "https") and not parts.netloc):
        raise ClientConfigError(f"{where}: {uri!r} must be an absolute URI without a fragment")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ClientConfigError(f"{where}: {uri!r} must use https (plain http only on localhost)")


def client_from_config(data: Mapping[str, Any]) -> ClientRegistration:
    """Validate one client entry of the configuration file and build its registration."""
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        raise ClientConfigError("every client needs a non-empty 'client_id'")
    where = f"client {client_id!r}"
    known = {"client_id", "name", "auth_method", "redirect_uris", "scope", "grant_types", "client_secret",
             "client_secret_sha256", "jwks", "region", "login", "commission_purposes"}
    extra = sorted(set(data) - known)
    if extra:
        raise ClientConfigError(f"{where}: unknown field(s) {', '.join(extra)}")
    auth = data.get("auth_method", "none")
    if auth not in AUTH_METHODS:
        raise ClientConfigError(f"{where}: auth_method must be one of {', '.join(AUTH_METHODS)}, not {auth!r}")
    grants = _strings(data.get("grant_types"), f"{where}: grant_types") or (
        ("client_credentials",) if auth == "private_key_jwt" and not data.get("redirect_uris")
        else ("authorization_code", "refresh_token"))
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise ClientConfigError(f"{where}: grant type {grant!r} is not one of {', '.join(GRANT_TYPES)}")
    redirect_uris = _strings(data.get("redirect_uris"), f"{where}: redirect_uris")
    if "authorization_code" in grants and not redirect_uris:
        raise ClientConfigError(f"{where}: the authorization_code grant needs redirect_uris")
    for uri in redirect_uris:
        _check_redirect_uri(uri, where)
    secret, digest = data.get("client_secret"), data.get("client_secret_sha256", "")
    if isinstance(secret, str) and secret:
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    if auth == "client_secret_basic" and not (isinstance(digest, str) and len(digest) == 64):
        raise ClientConfigError(f"{where}: client_secret_basic needs client_secret or client_secret_sha256")
    jwks = data.get("jwks") or {}
    if auth == "private_key_jwt":
        keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list) or not keys or not all(isinstance(k, Mapping) and k.get("kid") for k in keys):
            raise ClientConfigError(f"{where}: private_key_jwt needs a jwks whose keys all have a 'kid'")
        if any("d" in k for k in keys):
            raise ClientConfigError(f"{where}: the jwks holds a private key; register only public keys")
        try:
            KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise ClientConfigError(f"{where}: the jwks cannot be read: {exc}") from None
    if "client_credentials" in grants:
        if auth != "private_key_jwt":
            raise ClientConfigError(f"{where}: client_credentials needs auth_method private_key_jwt "
                                    "(SMART Backend Services)")
        if not isinstance(data.get("region"), str) or not data["region"]:
            raise ClientConfigError(f"{where}: a backend service needs the 'region' its tokens are limited to")
    scope = data.get("scope", "")
    try:
        Scopes.parse(scope if isinstance(scope, str) else " ".join(_strings(scope, f"{where}: scope")))
    except ScopeError as exc:
        raise ClientConfigError(f"{where}: {exc}") from None
    login = data.get("login", "")
    if login not in ("", *LOGIN_KINDS):
        raise ClientConfigError(f"{where}: login must be citizen or clinician, not {login!r}")
    # A purpose such as "Vård och behandling" has spaces, so a lone string is one purpose.
    raw_purposes = data.get("commission_purposes")
    purposes = ((raw_purposes,) if isinstance(raw_purposes, str) and raw_purposes.strip()
                else _strings(raw_purposes, f"{where}: commission_purposes")) or (CARE_PURPOSE,)
    return ClientRegistration(
        client_id=client_id, auth_method=auth, name=str(data.get("name", "")), redirect_uris=redirect_uris,
        scope=scope if isinstance(scope, str) else " ".join(scope), grant_types=grants,
        secret_sha256=str(digest or ""), jwks=dict(jwks), region=str(data.get("region", "")), login=login,
        commission_purposes=purposes,
    )


def load_client_registry(path: str | Path) -> InMemoryClientRegistry:
    """Read the clients file (`.json`, `.yaml` or `.yml`): `{"clients": [ {...}, ... ]}`."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if source.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ClientConfigError(f"{source}: cannot read the clients file: {exc}") from None
    entries = data.get("clients") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ClientConfigError(f"{source}: the clients file needs a top-level 'clients' list")
    try:
        return InMemoryClientRegistry(client_from_config(e if isinstance(e, dict) else {}) for e in entries)
    except ClientConfigError as exc:
        raise ClientConfigError(f"{source}: {exc}") from None
