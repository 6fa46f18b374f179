"""Run the hub's Alembic migrations against the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

# Tables outside the FHIR store join the same MetaData when their modules are imported.
import adapters.idp.smart.one_time_sql
import adapters.idp.tokens.refresh_sql  # noqa: F401
import hub.access.grants
import hub.case_queue
import hub.outbox.table  # noqa: F401
from fhir_api.store.schema import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url is not set"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
