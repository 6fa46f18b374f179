"""Keep emergency-access (nödåtkomst) grants: who opened which patient's record, why, until when.

A clinician who states a reason gets, for a limited time, what a clinician at any unit of
their own care provider would see of one patient. The grant is a row written in the same
transaction as the access that opened it; it is never deleted by the hub (it is evidence
for the log review), it simply stops counting at `expires_at`. The table hangs off the
store's shared MetaData so the hub's Alembic migrations create it.
PDL (SFS 2008:355) 4 kap. 4 § (nödsituation); https://hl7.org/fhir/R4/auditevent.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, DateTime, Index, String, Table, Text, insert, select

from fhir_api.store.schema import Key, metadata

emergency_grants = Table(
    "access_emergency_grants",
    metadata,
    Column("grant_id", Key, primary_key=True, autoincrement=True),
    Column("employee_hsa_id", String(64), nullable=False),
    Column("commission_hsa_id", String(64), nullable=False),
    Column("care_unit_hsa_id", String(64), nullable=False),
    Column("care_provider_hsa_id", String(64), nullable=False),
    # The Patient resource's logical id: the grant opens that patient's cases at the provider.
    Column("patient_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    # Naive UTC, as in the resource store, so both databases compare them the same way.
    Column("granted_at", DateTime(timezone=False), nullable=False),
    Column("expires_at", DateTime(timezone=False), nullable=False),
    Index(None, "employee_hsa_id", "commission_hsa_id", "expires_at"),
)


def naive_utc(moment: datetime) -> datetime:
    """Return an aware time as the naive UTC the store keeps."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Grant:
    """One emergency-access grant."""

    patient_id: str
    reason: str
    expires_at: datetime


class GrantStore:
    """Write and look up emergency-access grants on the request's own connection."""

    def open(self, conn: Connection, *, employee: str, commission: str, unit: str, provider: str,
             patient_id: str, reason: str, now: datetime, expires_at: datetime) -> Grant:
        """Record a grant; every use of the reason header is its own row, so the log shows each."""
        conn.execute(insert(emergency_grants).values(
            employee_hsa_id=employee, commission_hsa_id=commission, care_unit_hsa_id=unit,
            care_provider_hsa_id=provider, patient_id=patient_id, reason=reason[:2000],
            granted_at=naive_utc(now), expires_at=naive_utc(expires_at)))
        return Grant(patient_id, reason, naive_utc(expires_at))

    def active(self, conn: Connection, *, employee: str, commission: str, provider: str,
               now: datetime) -> Sequence[Grant]:
        """Return the grants of this clinician under this commission that still count."""
        g = emergency_grants.c
        rows = conn.execute(
            select(g.patient_id, g.reason, g.expires_at)
            .where(g.employee_hsa_id == employee, g.commission_hsa_id == commission,
                   g.care_provider_hsa_id == provider, g.expires_at > naive_utc(now))
            .order_by(g.expires_at.desc())
        ).all()
        return [Grant(r.patient_id, r.reason, r.expires_at) for r in rows]
