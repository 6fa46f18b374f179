"""Keep resources, every version of them, and their search index, on one connection.

The repository never commits: the service that owns the request's unit of work does, so a
transaction Bundle and a single create go through the same code. On PostgreSQL a create or
update is one statement (`pg_writes`); elsewhere, a statement per table. Versions are guarded
optimistically (`UPDATE … WHERE version_id = :seen`), which holds on SQLite and PostgreSQL
alike without table locks.
https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from fhir_api import changes
from fhir_api.outcomes import Conflict
from fhir_api.store import pg_writes
from fhir_api.store.schema import INDEX_TABLES, resource_versions, resources

IndexRows = Mapping[str, list[dict[str, Any]]]
Indexer = Callable[[dict[str, Any]], IndexRows]


@dataclass(frozen=True)
class Stored:
    """One version of a resource as stored: its JSON text and version facts."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: str | None

    @property
    def etag(self) -> str:
        """Return the weak ETag FHIR uses for a version."""
        return f'W/"{self.version_id}"'

    @property
    def last_modified(self) -> str:
        """Return Last-Modified in HTTP date form."""
        return self.last_updated.replace(tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")

    def json(self) -> dict[str, Any]:
        """Parse the stored text; only for logic that needs the resource's content."""
        return orjson.loads(self.content) if self.content else {}


def new_id() -> str:
    """Make a server-assigned logical id."""
    return str(uuid.uuid4())


def instant(dt: datetime) -> str:
    """Format a naive UTC datetime as a FHIR instant."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utcnow() -> datetime:
    """Return now as naive UTC, which is how times are stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def _stamp(resource: dict[str, Any], res_id: str, version: int, when: datetime) -> str:
    """Put id and meta in place and serialise, resourceType first as people expect to read it."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(when)
    body = {"resourceType": resource["resourceType"], "id": res_id, "meta": meta}
    for key, value in resource.items():
        if key not in body:
            body[key] = value
    resource.clear()
    resource.update(body)
    return orjson.dumps(body).decode()


_COLUMNS = (
    resources.c.rid,
    resources.c.res_type,
    resources.c.res_id,
    resources.c.version_id,
    resources.c.last_updated,
    resources.c.deleted,
    resources.c.content,
)


class ResourceRepository:
    """Read and write resources and their history; index each write with `indexer`."""

    def __init__(self, indexer: Indexer) -> None:
        self._indexer = indexer

    def read(self, conn: Connection, res_type: str, res_id: str) -> Stored | None:
        """Return the current version, deleted or not, or None if it never existed."""
        row = conn.execute(
            select(*_COLUMNS[1:]).where(
                resources.c.res_type == res_type, resources.c.res_id == res_id
            )
        ).first()
        return Stored(*row) if row else None

    def vread(self, conn: Connection, res_type: str, res_id: str, version: int) -> Stored | None:
        """Return one historical version, or None."""
        rv = resource_versions.c
        row = conn.execute(
            select(rv.res_type, rv.res_id, rv.version_id, rv.last_updated,
                   rv.method == "delete", rv.content).where(
                rv.res_type == res_type, rv.res_id == res_id, rv.version_id == version
            )
        ).first()
        return Stored(*row) if row else None

    def create(self, conn: Connection, resource: dict[str, Any], res_id: str | None = None) -> Stored:
        """Store a new resource (version 1) under a new or given id."""
        res_type = resource["resourceType"]
        res_id = res_id or new_id()
        when = utcnow()
        content = _stamp(resource, res_id, 1, when)
        if conn.dialect.name == "postgresql":
            try:
                pg_writes.create(conn, res_type, res_id, when, content, self._indexer(resource))
            except IntegrityError:
                raise Conflict(f"{res_type}/{res_id} already exists", (res_type,)) from None
            changes.record(conn, changes.Change(res_type, res_id, 1, "create", content))
            return Stored(res_type, res_id, 1, when, False, content)
        try:
            # No savepoint: a duplicate id fails the whole unit of work, which is what a
            # create racing another create with the same client id should do.
            rid = conn.execute(
                insert(resources).values(
                    res_type=res_type, res_id=res_id, version_id=1,
                    last_updated=when, deleted=False, content=content,
                ).returning(resources.c.rid)
            ).scalar_one()
        except IntegrityError:
            raise Conflict(f"{res_type}/{res_id} already exists", (res_type,)) from None
        self._write_version(conn, rid, res_type, res_id, 1, when, "create", content)
        self._write_index(conn, rid, res_type, resource)
        return Stored(res_type, res_id, 1, when, False, content)

    def update(
        self, conn: Connection, current: Stored, resource: dict[str, Any]
    ) -> Stored:
        """Store a new version over `current`; Conflict if someone else wrote it meanwhile."""
        res_type, res_id = current.res_type, current.res_id
        version = current.version_id + 1
        when = utcnow()
        content = _stamp(resource, res_id, version, when)
        method = "create" if current.deleted else "update"
        if conn.dialect.name == "postgresql":
            if pg_writes.update(conn, res_type, res_id, current.version_id, version, when, method, content,
                                self._indexer(resource)) is None:
                raise Conflict(
                    f"{res_type}/{res_id} was changed by another request; read it again and retry",
                    (res_type,),
                )
            changes.record(conn, changes.Change(res_type, res_id, version, method, content))
            return Stored(res_type, res_id, version, when, False, content)
        rid = conn.execute(
            update(resources)
            .where(
                resources.c.res_type == res_type,
                resources.c.res_id == res_id,
                resources.c.version_id == current.version_id,
            )
            .values(version_id=version, last_updated=when, deleted=False, content=content)
            .returning(resources.c.rid)
        ).scalar_one_or_none()
        if rid is None:
            raise Conflict(
                f"{res_type}/{res_id} was changed by another request; read it again and retry",
                (res_type,),
            )
        self._write_version(conn, rid, res_type, res_id, version, when, method, content)
        self._clear_index(conn, rid)
        self._write_index(conn, rid, res_type, resource)
        return Stored(res_type, res_id, version, when, False, content)

    def delete(self, conn: Connection, current: Stored) -> Stored:
        """Mark the resource deleted as a new version; its index goes, its history stays."""
        version = current.version_id + 1
        when = utcnow()
        rid = conn.execute(
            update(resources)
            .where(
                resources.c.res_type == current.res_type,
                resources.c.res_id == current.res_id,
                resources.c.version_id == current.version_id,
            )
            .values(version_id=version, last_updated=when, deleted=True, content=None)
            .returning(resources.c.rid)
        ).scalar_one_or_none()
        if rid is None:
            raise Conflict(f"{current.res_type}/{current.res_id} was changed meanwhile; retry")
        self._write_version(conn, rid, current.res_type, current.res_id, version, when, "delete", None)
        self._clear_index(conn, rid)
        return Stored(current.res_type, current.res_id, version, when, True, None)

    def history(
        self,
        conn: Connection,
        res_type: str | None,
        res_id: str | None,
        *,
        since: datetime | None,
        before_vid: int | None,
        count: int,
    ) -> list[tuple[int, Stored, str]]:
        """Return (vid, version, method) newest first, keyset-paged by the global version key."""
        rv = resource_versions.c
        conds = []
        if res_type:
            conds.append(rv.res_type == res_type)
        if res_id:
            conds.append(rv.res_id == res_id)
        if since is not None:
            conds.append(rv.last_updated >= since)
        if before_vid is not None:
            conds.append(rv.vid < before_vid)
        rows = conn.execute(
            select(rv.vid, rv.res_type, rv.res_id, rv.version_id, rv.last_updated,
                   rv.method == "delete", rv.content, rv.method)
            .where(*conds)
            .order_by(rv.vid.desc())
            .limit(count)
        ).all()
        return [(r[0], Stored(*r[1:7]), r[7]) for r in rows]

    def _write_version(
        self, conn: Connection, rid: int, res_type: str, res_id: str, version: int,
        when: datetime, method: str, content: str | None,
    ) -> None:
        conn.execute(
            insert(resource_versions).values(
                rid=rid, res_type=res_type, res_id=res_id, version_id=version,
                last_updated=when, method=method, content=content,
            )
        )
        changes.record(conn, changes.Change(res_type, res_id, version, method, content))

    def _write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any]) -> None:
        for kind, rows in self._indexer(resource).items():
            if rows:
                table = INDEX_TABLES[kind]
                conn.execute(insert(table), [{**r, "rid": rid, "res_type": res_type} for r in rows])

    def _clear_index(self, conn: Connection, rid: int) -> None:
        for table in INDEX_TABLES.values():
            conn.execute(delete(table).where(table.c.rid == rid))
