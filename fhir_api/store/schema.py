"""Declare the tables that hold resources, their history and their search index.

Resources are kept as the JSON text that is served, so a read is one row and no parsing.
Every version is kept in `resource_versions`; its autoincrementing key orders system history.
Search-index rows point at the current row by `rid` and are replaced on every write, in the
same transaction, so a search never sees a resource whose index is half-written.
Composite search parameters write their component values into the ordinary index tables,
each with the composite's code and a `grp` number shared by the components of one match.
https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants a 64-bit key.
Key = BigInteger().with_variant(Integer(), "sqlite")
# Byte order on PostgreSQL, as SQLite's default: string prefix search is then a range that
# a b-tree serves whatever the database locale, and sort order is the same on both.
SearchText = String(255).with_variant(String(255, collation="C"), "postgresql")
UriText = Text().with_variant(Text(collation="C"), "postgresql")

resources = Table(
    "resources",
    metadata,
    Column("rid", Key, primary_key=True, autoincrement=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    # Naive UTC; comparisons and keyset paging then behave the same on both databases.
    Column("last_updated", DateTime(timezone=False), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=True),
    UniqueConstraint("res_type", "res_id"),
    Index(None, "res_type", "last_updated", "rid"),
    # Search's default order is by rid within a type; without this a search of a rare type
    # walks the whole primary key to fill one page.
    Index(None, "res_type", "rid"),
)

resource_versions = Table(
    "resource_versions",
    metadata,
    Column("vid", Key, primary_key=True, autoincrement=True),
    Column("rid", Key, ForeignKey("resources.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", DateTime(timezone=False), nullable=False),
    Column("method", String(8), nullable=False),
    Column("content", Text, nullable=True),
    UniqueConstraint("rid", "version_id"),
    Index(None, "res_type", "vid"),
    # vread and instance history look a resource up by type and id, not by the store's key.
    Index(None, "res_type", "res_id", "version_id"),
    Index(None, "last_updated"),
)


def _index_table(name: str, *value_columns: Column[Any], value_index: tuple[str, ...]) -> Table:
    """Build one search-index table with the columns every index table shares."""
    return Table(
        name,
        metadata,
        Column("rid", Key, ForeignKey("resources.rid", ondelete="CASCADE"), nullable=False),
        Column("res_type", String(64), nullable=False),
        Column("param", String(100), nullable=False),
        Column("grp", Integer, nullable=True),
        *value_columns,
        Index(None, "res_type", "param", *value_index),
        Index(None, "rid"),
    )


idx_string = _index_table(
    "idx_string",
    # Lower-cased and stripped of accents: the default string match is case and accent blind.
    Column("value_norm", SearchText, nullable=False),
    Column("value_exact", Text, nullable=False),
    value_index=("value_norm",),
)

idx_token = _index_table(
    "idx_token",
    Column("system", String(255), nullable=True),
    Column("code", String(255), nullable=True),
    Column("text_norm", String(255), nullable=True),
    value_index=("code", "system"),
)

idx_date = _index_table(
    "idx_date",
    Column("low", DateTime(timezone=False), nullable=False),
    Column("high", DateTime(timezone=False), nullable=False),
    # Width class of [low, high]: 0 up to a day, 1 a month, 2 a year, 3 longer or open. A
    # search for intervals overlapping a window can then bound `low` from below per class
    # (low >= start - width), so a date range is a few short index scans, not half the table.
    Column("span", SmallInteger, nullable=False, server_default="3"),
    value_index=("low", "high"),
)

idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    value_index=("value",),
)

idx_quantity = _index_table(
    "idx_quantity",
    Column("value", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("system", String(255), nullable=True),
    Column("code", String(255), nullable=True),
    Column("unit", String(255), nullable=True),
    value_index=("value",),
)

idx_reference = _index_table(
    "idx_reference",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("url", Text, nullable=True),
    value_index=("target_id", "target_type"),
)

idx_uri = _index_table(
    "idx_uri",
    Column("value", UriText, nullable=False),
    value_index=("value",),
)

# A date range reads one short stretch of this index per width class. On PostgreSQL it also
# carries `high` and `rid`, so that stretch is all it reads: without them each match cost a
# visit to a table page of its own, and a day's search grew with the rows it matched.
Index(None, idx_date.c.res_type, idx_date.c.param, idx_date.c.span, idx_date.c.low,
      postgresql_include=["high", "rid"])

INDEX_TABLES: dict[str, Table] = {
    "string": idx_string,
    "token": idx_token,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "reference": idx_reference,
    "uri": idx_uri,
}
