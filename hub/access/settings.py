"""Describe the access-control settings, and read them from the hub's settings by name.

The hub's `Settings` gains `access_*` fields (see `SETTINGS_HELP` for the names, defaults and
help texts the lead adds to hub/settings.py); `AccessSettings.from_settings` reads whichever of
them exist, so the guard runs with its defaults before they are wired in.
https://hl7.org/fhir/R4/security.html
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from cases.access import CHILD_TAKES_OVER_AT, DEFAULT_EMERGENCY_HOURS, LOG_REVIEW_RIGHT, CustodyPolicy

SETTINGS_HELP: dict[str, str] = {
    "child_takes_over_at": "age from which a child's data is no longer shown to guardians (1177's rule); "
                           "0 turns the rule off, leaving 18",
    "emergency_access_minutes": "how long an emergency-access (nödåtkomst) grant lasts, in minutes",
    "emergency_reason_header": "request header that carries the reason for emergency access",
    "anonymous_rate_per_minute": "requests per minute an anonymous client address may make",
    "anonymous_burst": "requests an anonymous client address may make at once before throttling",
    "forwarded_hops": "trusted proxies in front of the hub; the client address is that many entries "
                      "from the right of X-Forwarded-For (0: the TCP peer)",
    "log_review_right": "commission right (first part of a commissionRight) that lets a clinician review the log",
    "audit_retention_years": "years AuditEvents are kept (PDL: at least 5); documentation for the archive job",
}


@dataclass(frozen=True)
class AccessSettings:
    """Access rules that a region configures."""

    child_takes_over_at: int = CHILD_TAKES_OVER_AT
    emergency_access_minutes: int = int(DEFAULT_EMERGENCY_HOURS * 60)
    emergency_reason_header: str = "x-emergency-access-reason"
    anonymous_rate_per_minute: int = 60
    anonymous_burst: int = 30
    forwarded_hops: int = 0
    log_review_right: str = LOG_REVIEW_RIGHT
    audit_retention_years: int = 5

    def __post_init__(self) -> None:
        if self.audit_retention_years < 5:
            raise ValueError("access_audit_retention_years: PDL requires at least 5 years")
        if self.emergency_access_minutes <= 0:
            raise ValueError("access_emergency_access_minutes must be more than 0")
        if self.anonymous_rate_per_minute < 1 or self.anonymous_burst < 1:
            raise ValueError("access_anonymous_rate_per_minute and access_anonymous_burst must be at least 1")

    @property
    def custody(self) -> CustodyPolicy:
        """Return the custody policy these settings describe."""
        return CustodyPolicy(self.child_takes_over_at or None)

    @classmethod
    def from_settings(cls, settings: Any) -> AccessSettings:
        """Read `access_<name>` attributes from the hub's settings (or any object); defaults fill the rest."""
        if isinstance(settings, AccessSettings):
            return settings
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(settings, f"access_{f.name}", None)
            if value is not None:
                values[f.name] = value
        return cls(**values)
