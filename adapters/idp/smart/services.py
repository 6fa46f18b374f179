"""Gather what the SMART authorization server needs, as one value the hub builds and mounts.

The authorization server is plain functions over this bundle, so tests build one in memory and
the hub builds one over its database, and nothing in it is a global. Endpoint URLs are derived
from one issuer URL, so the discovery document, the token endpoint a client assertion must name
as `aud`, and the routes the hub mounts cannot disagree.
https://hl7.org/fhir/smart-app-launch/conformance.html
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.idp.smart.choice import CustodyRegister
from adapters.idp.smart.clients import ClientRegistry
from adapters.idp.smart.login import IdentityDirectory, LoginBackend, NoDirectory
from adapters.idp.smart.one_time import OneTimeStore
from adapters.idp.tokens.access import AccessTokens
from adapters.idp.tokens.refresh import RefreshTokenStore
from cases.principals import Citizen, Clinician, Guardian, Principal, RegionalSystem

AUTH_PREFIX = "/auth"
AUTHORIZE_PATH = f"{AUTH_PREFIX}/authorize"
TOKEN_PATH = f"{AUTH_PREFIX}/token"
JWKS_PATH = f"{AUTH_PREFIX}/jwks"
CALLBACK_PATH = f"{AUTH_PREFIX}/callback"
LAUNCH_PATH = f"{AUTH_PREFIX}/launch"
DEV_LOGIN_PATH = f"{AUTH_PREFIX}/dev/login"
CHOOSE_PATH = f"{AUTH_PREFIX}/choose"


def utc_now() -> datetime:
    """Return the current time, timezone-aware."""
    return datetime.now(UTC)


def issuer_for(fhir_base_url: str) -> str:
    """Derive the issuer from the FHIR base: `https://hub.se/fhir` → `https://hub.se`."""
    base = fhir_base_url.rstrip("/")
    return base[: -len("/fhir")] if base.endswith("/fhir") else base


@dataclass(frozen=True)
class AuthSettings:
    """The authorization server's configuration: where it is, how long things live, which mode."""

    fhir_base_url: str
    subject_secret: bytes
    issuer: str = ""
    mode: str = "development"
    access_token_ttl: timedelta = timedelta(minutes=10)
    system_token_ttl: timedelta = timedelta(minutes=5)
    refresh_token_ttl: timedelta = timedelta(hours=12)
    code_ttl: timedelta = timedelta(seconds=60)
    login_ttl: timedelta = timedelta(minutes=10)
    launch_ttl: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not self.fhir_base_url.startswith(("http://", "https://")):
            raise ValueError(f"the FHIR base URL must be absolute, not {self.fhir_base_url!r}")
        if len(self.subject_secret) < 16:
            raise ValueError("the subject secret must be at least 16 bytes")
        object.__setattr__(self, "fhir_base_url", self.fhir_base_url.rstrip("/"))
        object.__setattr__(self, "issuer", (self.issuer or issuer_for(self.fhir_base_url)).rstrip("/"))

    @property
    def production(self) -> bool:
        """Tell whether the hub runs in production mode."""
        return self.mode == "production"

    def url(self, path: str) -> str:
        """Return the public URL of one of the server's paths."""
        return f"{self.issuer}{path}"

    @property
    def token_endpoint(self) -> str:
        """Return the token endpoint URL: what a client assertion's `aud` must be."""
        return self.url(TOKEN_PATH)


@dataclass
class AuthServices:
    """Everything the SMART routes use; see `hub.auth.mount_auth`."""

    settings: AuthSettings
    tokens: AccessTokens
    refresh_tokens: RefreshTokenStore
    clients: ClientRegistry
    one_time: OneTimeStore
    logins: Mapping[str, LoginBackend]
    directory: IdentityDirectory = field(default_factory=NoDirectory)
    clock: Callable[[], datetime] = utc_now
    # The population register, asked which children a citizen who logs in may act for; None: none.
    register: CustodyRegister | None = None

    def subject_for(self, principal: Principal, client_id: str) -> str:
        """Return a pairwise subject: stable per person and client, and no personnummer in it.

        A plain hash of a personnummer could be reversed by trying every number; keyed with the
        hub's secret it cannot, and keyed per client two apps cannot join their users.
        """
        if isinstance(principal, Citizen):
            who = f"person:{principal.person_id}"
        elif isinstance(principal, Guardian):
            who = f"person:{principal.citizen.person_id}"
        elif isinstance(principal, Clinician):
            who = f"hsa:{principal.employee_hsa_id}"
        elif isinstance(principal, RegionalSystem):
            who = f"client:{principal.client_id}"
        else:  # pragma: no cover - the union is closed
            raise TypeError(type(principal).__name__)
        mac = hmac.new(self.settings.subject_secret, f"{client_id}\x00{who}".encode(), hashlib.sha256)
        return mac.hexdigest()[:40]
