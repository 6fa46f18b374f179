"""teach PostgreSQL how the reference index's columns depend on each other

PostgreSQL estimates each column of idx_reference on its own, so `owner = Organization/x`
for a unit with 50,000 Tasks was estimated at 2,300 rows and a unit-scoped search fetched
and sorted every Task of the unit instead of walking them in order and stopping at the page.
Multivariate statistics (most-common values and functional dependencies) fix the estimate.
SQLite has no such statistics; this revision does nothing there.
https://www.postgresql.org/docs/15/planner-stats.html#PLANNER-STATS-EXTENDED

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE STATISTICS IF NOT EXISTS idx_reference_target_stats (mcv, dependencies) "
               "ON res_type, param, target_type, target_id FROM idx_reference")
    op.execute("ANALYZE idx_reference")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS idx_reference_target_stats")
