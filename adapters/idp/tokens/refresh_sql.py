"""Keep refresh tokens in the hub's database, so every API replica sees the same rotation state.

The table hangs off the store's shared MetaData so the hub's Alembic migrations create it; only
token hashes are stored. `use` marks a token used with a conditional UPDATE and checks the row
count, so two replicas racing on one token cannot both win: the loser sees a used token and
revokes the family, which is what the Security BCP asks for when a token is presented twice.
https://hl7.org/fhir/smart-app-launch/app-launch.html#step-7-app-uses-a-refresh-token-to-obtain-a-new-access-token
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Index, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from adapters.idp.tokens.refresh import REUSED, RefreshGrant, RefreshTokenError, check_usable
from adapters.idp.writing import read_then_write
from fhir_api.store.schema import metadata

refresh_tokens = Table(
    "auth_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False),
    Column("client_id", String(255), nullable=False),
    # principal, scope, subject and launch context, as one JSON document: read back whole, never queried.
    Column("details", Text, nullable=False),
    # Naive UTC, as in the resource store, so both databases compare them the same way.
    Column("issued_at", DateTime(timezone=False), nullable=False),
    Column("expires_at", DateTime(timezone=False), nullable=False),
    Column("used_at", DateTime(timezone=False), nullable=True),
    Column("revoked_at", DateTime(timezone=False), nullable=True),
    Index(None, "family_id"),
    Index(None, "expires_at"),
)


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("times given to the refresh store must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _row_to_grant(row: RowMapping) -> RefreshGrant:
    details: dict[str, Any] = json.loads(row["details"])
    issued, expires = _aware(row["issued_at"]), _aware(row["expires_at"])
    assert issued is not None and expires is not None
    return RefreshGrant(
        token_hash=row["token_hash"], family_id=row["family_id"], client_id=row["client_id"],
        principal=details["principal"], scope=details["scope"], subject=details.get("subject", ""),
        patient=details.get("patient"), encounter=details.get("encounter"),
        fhir_user=details.get("fhir_user"), issued_at=issued, expires_at=expires,
        used_at=_aware(row["used_at"]), revoked_at=_aware(row["revoked_at"]),
    )


class SqlRefreshTokenStore:
    """A refresh token store over SQLAlchemy Core, for SQLite and PostgreSQL alike."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, grant: RefreshGrant) -> None:
        """Store a new, unused token."""
        with self.engine.begin() as conn:
            conn.execute(insert(refresh_tokens).values(
                token_hash=grant.token_hash, family_id=grant.family_id, client_id=grant.client_id,
                details=json.dumps(grant.details, separators=(",", ":")),
                issued_at=_naive(grant.issued_at), expires_at=_naive(grant.expires_at),
                used_at=_naive(grant.used_at), revoked_at=_naive(grant.revoked_at),
            ))

    def use(self, token_hash: str, *, now: datetime) -> RefreshGrant:
        """Mark the token used and return its grant; on reuse, revoke its family and raise."""
        stamp = _naive(now)
        with read_then_write(self.engine) as conn:
            row = conn.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
                               ).mappings().first()
            grant = check_usable(None if row is None else _row_to_grant(row), now=now)
            if grant.used_at is None:
                marked = conn.execute(
                    update(refresh_tokens)
                    .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None),
                           refresh_tokens.c.revoked_at.is_(None))
                    .values(used_at=stamp)
                )
                if marked.rowcount == 1:
                    return replace(grant, used_at=now)
            # Used before, or by a concurrent request just now: revoke the family, in this transaction.
            conn.execute(self._revoke_statement(grant.family_id, stamp))
        raise RefreshTokenError("reused", REUSED)

    @staticmethod
    def _revoke_statement(family_id: str, stamp: datetime | None) -> Any:
        return (update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=stamp))

    def revoke_family(self, family_id: str, *, now: datetime) -> int:
        """Revoke every token of one login; return how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(self._revoke_statement(family_id, _naive(now))).rowcount)

    def purge(self, *, now: datetime) -> int:
        """Delete tokens past their expiry; return how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at <= _naive(now))
                                    ).rowcount)
