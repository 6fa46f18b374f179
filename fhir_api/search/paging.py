"""Page through results by keyset: a cursor is the sort key of a row, never an offset.

An offset walks and discards every earlier row (slow on deep pages) and skips or repeats
rows when others are inserted or deleted meanwhile. A cursor names the last (or first) row
of a page by its sort key and rid, which is unique and never reused, so the next page starts
exactly after it however the data changes. Cursors are opaque to clients (base64 JSON) and
carry the sort they belong to; one from another sort is refused.
https://hl7.org/fhir/R4/http.html#paging
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, and_, false, or_, tuple_

from fhir_api.search.model import Cursor, SortKey

_VERSION = 1
_DATE_KINDS = ("date", "_lastUpdated")


def encode_cursor(signature: str, forward: bool, keys: Sequence[object], rid: int, *,
                  inclusive: bool = False) -> str:
    """Return the opaque cursor for the position of one row."""
    plain = [k.isoformat() if isinstance(k, datetime) else k for k in keys]
    raw = orjson.dumps([_VERSION, signature, forward, inclusive, plain, rid])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, signature: str, sort: Sequence[SortKey]) -> Cursor:
    """Read a cursor back; ValueError if it is malformed or belongs to another sort."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, sig, forward, inclusive, keys, rid = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ValueError("the paging cursor is not valid") from None
    if version != _VERSION or sig != signature or not isinstance(rid, int):
        raise ValueError("the paging cursor belongs to another search order")
    if not isinstance(keys, list) or len(keys) != len(sort):
        raise ValueError("the paging cursor is not valid")
    decoded: list[object] = []
    for key, value in zip(sort, keys, strict=True):
        if key.kind in _DATE_KINDS:
            try:
                decoded.append(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                raise ValueError("the paging cursor is not valid") from None
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            decoded.append(value)
        else:
            raise ValueError("the paging cursor is not valid")
    return Cursor(bool(forward), bool(inclusive), tuple(decoded), rid)


def keyset_clause(columns: Sequence[tuple[ColumnElement[Any], bool]], values: Sequence[object],
                  forward: bool, inclusive: bool) -> ColumnElement[bool]:
    """Return the condition "row comes after (or before) `values` in this order".

    `columns` are (expression, descending) pairs ending with the rid. When every key runs
    the same way, a row-value comparison lets PostgreSQL seek straight into an index.
    """
    if not columns:
        return ~false()
    directions = {desc for _, desc in columns}
    if len(directions) == 1:
        descending = directions.pop()
        left = tuple_(*(c for c, _ in columns))
        right = tuple_(*cast(Any, values))
        if descending != forward:  # ascending and forward, or descending and backward
            return left >= right if inclusive else left > right
        return left <= right if inclusive else left < right
    ors: list[ColumnElement[bool]] = []
    for i, (col, desc) in enumerate(columns):
        equal = [c == v for (c, _), v in zip(columns[:i], values[:i], strict=True)]
        greater = (col < values[i]) if desc == forward else (col > values[i])
        ors.append(and_(*equal, greater))
    if inclusive:
        ors.append(and_(*(c == v for (c, _), v in zip(columns, values, strict=True))))
    return or_(*ors)
