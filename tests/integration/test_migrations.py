"""The migrations bring both databases to the code's schema, PostgreSQL's statistics included."""

from __future__ import annotations

from sqlalchemy import create_engine

from hub import database
from tests.conftest import hub_settings


def test_migrated_database__is_at_the_codes_head(database_url: str) -> None:
    settings = hub_settings(database_url)
    engine = database.make_engine(settings)
    try:
        current, head = database.pending_migrations(engine, settings)
    finally:
        engine.dispose()
    assert current == head


def test_postgresql__knows_how_the_reference_index_columns_depend_on_each_other(pg_database: str) -> None:
    engine = create_engine(pg_database)
    try:
        with engine.connect() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT stxkind FROM pg_statistic_ext WHERE stxname = 'idx_reference_target_stats'").scalar()
    finally:
        engine.dispose()
    assert kinds is not None and set(kinds) == {"m", "f"}
