"""Keep the authorization server's short-lived, single-use things: codes, logins, launches, jtis.

An authorization code, a pending login and an EHR launch id are each redeemed once and expire
within minutes; a client assertion's `jti` must not be accepted twice before it expires. All
four are "put, then take once" or "claim once", so one small port covers them, and the hub can
run several replicas over a shared store. Keys are hashed before they are stored, so the table
never holds a redeemable code.
https://hl7.org/fhir/smart-app-launch/app-launch.html#step-3-app-exchanges-authorization-code-for-access-token
https://hl7.org/fhir/smart-app-launch/backend-services.html#authenticating-to-the-token-endpoint (jti)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

# What the one-time store holds, by kind; the kind keeps a code from being redeemed as a launch id.
CODE = "code"
LOGIN = "login"
LAUNCH = "launch"
# A login waiting for the person to choose whom they act as (adapters.idp.smart.choice).
CHOICE = "choice"
ASSERTION_JTI = "jti"


def key_hash(kind: str, key: str) -> str:
    """Hash a key with its kind, so the store never holds a redeemable value."""
    return hashlib.sha256(f"{kind}\x00{key}".encode()).hexdigest()


class OneTimeStore(Protocol):
    """Single-use, expiring entries; `take` and `claim` must be atomic across replicas."""

    def put(self, kind: str, key: str, value: Mapping[str, Any], *, expires_at: datetime) -> None:
        """Store a value under a fresh random key until it expires."""

    def take(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and delete it, or None if it is unknown, taken or expired."""

    def peek(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and keep it, or None if it is unknown, taken or expired."""

    def claim(self, kind: str, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record a key as seen until it expires; False if it was already seen and has not expired."""

    def purge(self, *, now: datetime) -> int:
        """Delete expired entries; return how many."""


class InMemoryOneTimeStore:
    """A one-time store in a dict, for tests and the embedded default with one process."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[dict[str, Any], datetime]] = {}
        self._lock = threading.Lock()

    def put(self, kind: str, key: str, value: Mapping[str, Any], *, expires_at: datetime) -> None:
        """Store a value under a fresh random key until it expires."""
        with self._lock:
            hashed = key_hash(kind, key)
            if hashed in self._entries:
                raise ValueError("one-time key already in use")
            self._entries[hashed] = (dict(value), expires_at)

    def take(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and delete it, or None if it is unknown, taken or expired."""
        with self._lock:
            entry = self._entries.pop(key_hash(kind, key), None)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def peek(self, kind: str, key: str, *, now: datetime) -> dict[str, Any] | None:
        """Return the value and keep it, or None if it is unknown, taken or expired."""
        with self._lock:
            entry = self._entries.get(key_hash(kind, key))
        if entry is None or entry[1] <= now:
            return None
        return dict(entry[0])

    def claim(self, kind: str, key: str, *, expires_at: datetime, now: datetime) -> bool:
        """Record a key as seen until it expires; False if it was already seen and has not expired."""
        with self._lock:
            hashed = key_hash(kind, key)
            seen = self._entries.get(hashed)
            if seen is not None and seen[1] > now:
                return False
            self._entries[hashed] = ({}, expires_at)
            return True

    def purge(self, *, now: datetime) -> int:
        """Delete expired entries; return how many."""
        with self._lock:
            old = [k for k, (_, exp) in self._entries.items() if exp <= now]
            for k in old:
                del self._entries[k]
            return len(old)
