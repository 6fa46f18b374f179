"""Mark a Subscription with the regional system that made it, and tell who may see what it sends.

A Subscription is not patient data: it belongs to the client that made it. The guard writes
the owner into `meta.tag` (client id and region, under the hub's own code systems) on every
create and update, replacing whatever the body said, so a system can neither claim another's
Subscription nor shed its own mark; a system then sees, changes and deletes only the
Subscriptions tagged with its client id (`_tag` is indexed like any token). Notifications are
matched by the hub with no caller, so the subscription matcher asks `subscriber_may_see`
whether the owner could read the resource that matched: a system's feed never carries what
its region's access would hide, however wide its criteria.
https://hl7.org/fhir/R4/subscription.html, https://hl7.org/fhir/R4/resource.html#Meta
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, FromClause, exists

from cases.principals import RegionalSystem
from fhir_api.store.schema import idx_token

if TYPE_CHECKING:
    from fhir_api.server import FhirServer

OWNER_SYSTEM = "https://ingang.se/fhir/CodeSystem/owning-client"
OWNER_REGION_SYSTEM = "https://ingang.se/fhir/CodeSystem/owning-client-region"
_MARKS = (OWNER_SYSTEM, OWNER_REGION_SYSTEM)


def stamp_owner(body: Any, system: RegionalSystem) -> Any:
    """Return the body with the system as its only owner tag; a body that is not an object is left to the server."""
    if not isinstance(body, dict):
        return body
    stamped = copy.deepcopy(body)
    given = stamped.get("meta")
    meta: dict[str, Any] = given if isinstance(given, dict) else {}
    tags = [t for t in meta.get("tag") or [] if not (isinstance(t, dict) and t.get("system") in _MARKS)]
    tags += [{"system": OWNER_SYSTEM, "code": system.client_id, "display": "the regional system that owns this"},
             {"system": OWNER_REGION_SYSTEM, "code": system.region}]
    stamped["meta"] = {**meta, "tag": tags}
    return stamped


def owner_of(resource: dict[str, Any]) -> RegionalSystem | None:
    """Return the system a stored resource's tags name as its owner, or None (the hub's own)."""
    tags = [t for t in (resource.get("meta") or {}).get("tag") or [] if isinstance(t, dict)]
    client = next((t.get("code") for t in tags if t.get("system") == OWNER_SYSTEM), None)
    region = next((t.get("code") for t in tags if t.get("system") == OWNER_REGION_SYSTEM), None)
    if not isinstance(client, str) or not isinstance(region, str):
        return None
    return RegionalSystem(client, region)


def owned_by(client_id: str, res_type: str, r: FromClause) -> ColumnElement[bool]:
    """The row carries the owner tag of this client."""
    t = idx_token.alias("acc_owner")
    return exists().where(t.c.rid == r.c.rid, t.c.res_type == res_type, t.c.param == "_tag",
                          t.c.system == OWNER_SYSTEM, t.c.code == client_id)


def subscriber_may_see(server: FhirServer, conn: Connection, subscription_id: str, res_type: str,
                       res_id: str) -> bool:
    """Tell whether the system that owns a Subscription may see the resource it matched.

    True when access control is off, and for Subscriptions the hub made itself (no owner tag).
    """
    from hub.access.guard import PdlGuard

    guard = server.guard
    if not isinstance(guard, PdlGuard):
        return True
    stored = server.repo.read(conn, "Subscription", subscription_id)
    owner = owner_of(stored.json()) if stored is not None and not stored.deleted else None
    if owner is None:
        return stored is not None and not stored.deleted
    return guard.system_sees(conn, owner, res_type, res_id)
