"""Keep refresh tokens: opaque, stored only as hashes, rotated on every use, and reuse-detected.

A refresh token is 256 random bits; the store keeps its SHA-256, so a copy of the table grants
nothing. Each use marks the token used and the caller adds its successor to the same family.
Presenting a used token again means two parties hold the family (a stolen token, or a stolen
successor), so the whole family is revoked: OAuth 2.0 Security BCP §4.14.2. The family keeps
the absolute expiry its first token was given, so rotation never extends a login.
https://hl7.org/fhir/smart-app-launch/app-launch.html#step-7-app-uses-a-refresh-token-to-obtain-a-new-access-token
https://www.rfc-editor.org/rfc/rfc9700#name-refresh-token-protection
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol


class RefreshTokenError(Exception):
    """A refresh token that cannot be used; `reason` is unknown, expired, revoked or reused."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


UNKNOWN = RefreshTokenError("unknown", "The refresh token is not known to this hub")


def new_refresh_token() -> tuple[str, str]:
    """Return a fresh opaque refresh token and the hash the store keeps instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """Hash a refresh token for storage and lookup (it is random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RefreshGrant:
    """What one refresh token stands for: the login, the client, the scopes and the launch context."""

    token_hash: str
    family_id: str
    client_id: str
    principal: dict[str, Any]
    scope: str
    issued_at: datetime
    expires_at: datetime
    subject: str = ""
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def successor(self, token_hash: str, *, now: datetime, scope: str | None = None) -> RefreshGrant:
        """Return the next token's grant in this family: same login, same absolute expiry."""
        return replace(self, token_hash=token_hash, issued_at=now, used_at=None, revoked_at=None,
                       scope=self.scope if scope is None else scope)

    @property
    def details(self) -> dict[str, Any]:
        """Return the fields a store may keep as one JSON document."""
        return {"principal": self.principal, "scope": self.scope, "subject": self.subject,
                "patient": self.patient, "encounter": self.encounter, "fhir_user": self.fhir_user}


def new_family_id() -> str:
    """Return an id that groups one login's chain of refresh tokens."""
    return secrets.token_hex(16)


def check_usable(grant: RefreshGrant | None, *, now: datetime) -> RefreshGrant:
    """Raise the error a store reports for a token that is missing, revoked or expired."""
    if grant is None:
        raise UNKNOWN
    if grant.revoked_at is not None:
        raise RefreshTokenError("revoked", "The refresh token was revoked")
    if grant.expires_at <= now:
        raise RefreshTokenError("expired", "The refresh token has expired; log in again")
    return grant


REUSED = ("The refresh token was already used; every token of this login is now revoked, "
          "since someone else may hold one")


class RefreshTokenStore(Protocol):
    """Where refresh tokens are kept, by hash; `use` must be atomic across replicas."""

    def add(self, grant: RefreshGrant) -> None:
        """Store a new, unused token."""

    def use(self, token_hash: str, *, now: datetime) -> RefreshGrant:
        """Mark the token used and return its grant; on reuse, revoke its family and raise."""

    def revoke_family(self, family_id: str, *, now: datetime) -> int:
        """Revoke every token of one login (logout, or reuse detected); return how many."""

    def purge(self, *, now: datetime) -> int:
        """Delete tokens past their expiry; return how many."""


@dataclass
class InMemoryRefreshTokenStore:
    """A store in a dict, for tests and the embedded default with one process."""

    grants: dict[str, RefreshGrant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, grant: RefreshGrant) -> None:
        """Store a new, unused token."""
        with self._lock:
            if grant.token_hash in self.grants:
                raise ValueError("refresh token hash already stored")
            self.grants[grant.token_hash] = grant

    def use(self, token_hash: str, *, now: datetime) -> RefreshGrant:
        """Mark the token used and return its grant; on reuse, revoke its family and raise."""
        with self._lock:
            grant = check_usable(self.grants.get(token_hash), now=now)
            if grant.used_at is not None:
                self._revoke(grant.family_id, now)
                raise RefreshTokenError("reused", REUSED)
            used = replace(grant, used_at=now)
            self.grants[token_hash] = used
            return used

    def revoke_family(self, family_id: str, *, now: datetime) -> int:
        """Revoke every token of one login; return how many."""
        with self._lock:
            return self._revoke(family_id, now)

    def _revoke(self, family_id: str, now: datetime) -> int:
        count = 0
        for key, grant in self.grants.items():
            if grant.family_id == family_id and grant.revoked_at is None:
                self.grants[key] = replace(grant, revoked_at=now)
                count += 1
        return count

    def purge(self, *, now: datetime) -> int:
        """Delete tokens past their expiry; return how many."""
        with self._lock:
            old = [k for k, g in self.grants.items() if g.expires_at <= now]
            for key in old:
                del self.grants[key]
            return len(old)
