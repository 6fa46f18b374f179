"""Build the hub's guard from its settings, its token verifier and the population register.

The composition root calls `build_guard` and hands the result to `FhirServer(guard=...)`;
nothing here runs at import time. The guard refuses to start over a database without its
grants table, since the first emergency access would otherwise fail half-way through a request.
https://hl7.org/fhir/R4/security.html
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect

from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.repository import ResourceRepository
from hub.access.caller import TokenVerifier
from hub.access.grants import emergency_grants
from hub.access.guard import PdlGuard, utc_now
from hub.access.resolve import CustodyRegister
from hub.access.settings import AccessSettings


def build_guard(engine: Engine, repo: ResourceRepository, settings_like: Any, verifier: TokenVerifier,
                register: CustodyRegister, *, clock: Callable[[], datetime] = utc_now,
                registry: SearchParamRegistry | None = None,
                case_operations: frozenset[str] = frozenset()) -> PdlGuard:
    """Return the PDL guard for this hub; `settings_like` is the hub's Settings (its `access_*` fields).

    `case_operations` lists the instance operations (e.g. `claim` for `Task/x/$claim`) that
    clinicians and regional systems may run on resources they can see; any other stays 403.
    """
    with engine.connect() as conn:
        if not inspect(conn).has_table(emergency_grants.name):
            raise SystemExit(f"The database has no {emergency_grants.name} table: run `ingang db upgrade` "
                             "(the migration that creates it ships with hub/access)")
    return PdlGuard(repo=repo, registry=registry or SearchParamRegistry.load(),
                    settings=AccessSettings.from_settings(settings_like), verifier=verifier,
                    register=register, clock=clock, case_operations=case_operations)
