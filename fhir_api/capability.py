"""Describe what this server does, generated from its own routes, registry and operations.

Nothing here is written by hand per type: the types come from the server's type list, the
search parameters from the registry the search engine uses, the operations from the
server's operation table. So the statement cannot claim what the code does not do.
https://hl7.org/fhir/R4/capabilitystatement.html
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from fhir_api.resource_types import R4_RESOURCE_TYPES

if TYPE_CHECKING:
    from fhir_api.server import FhirServer

SOFTWARE = {"name": "Ingång", "version": "0.1.0"}
_TYPE_INTERACTIONS = (
    "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
    "search-type",
)
# Parameters every search takes, whatever the type; they are answered by the search engine.
_RESULT_PARAMETERS = (
    ("_count", "number", "Page size; paging links carry a keyset cursor, never an offset"),
    ("_sort", "string", "Comma-separated sort keys, '-' for descending"),
    ("_include", "special", "Include referenced resources (Type:param[:Target], :iterate)"),
    ("_revinclude", "special", "Include resources that refer to the matches"),
    ("_summary", "token", "true, text, data, count or false"),
    ("_elements", "string", "Only these top-level elements"),
    ("_total", "token", "none, estimate or accurate"),
)


def _operation_entries(server: FhirServer, res_type: str | None) -> list[dict[str, Any]]:
    out = []
    for op in server.operations.values():
        if res_type is None and not op.system_level:
            continue
        if res_type is not None and (op.types is not None and res_type not in op.types):
            continue
        if res_type is not None and not (op.type_level or op.instance_level):
            continue
        entry: dict[str, Any] = {"name": op.name, "definition": op.definition or f"OperationDefinition/{op.name}"}
        if op.documentation:
            entry["documentation"] = op.documentation
        out.append(entry)
    return out


@functools.cache
def _type_entry(registry: Any, res_type: str) -> dict[str, Any]:
    params = registry.for_type(res_type)
    search_params = []
    includes = []
    for code in sorted(params):
        p = params[code]
        item: dict[str, Any] = {"name": code, "type": p.type}
        if getattr(p, "url", None):
            item["definition"] = p.url
        if getattr(p, "description", None):
            item["documentation"] = p.description
        search_params.append(item)
        if p.type == "reference":
            includes.append(f"{res_type}:{code}")
    for code, kind, doc in _RESULT_PARAMETERS:
        search_params.append({"name": code, "type": kind, "documentation": doc})
    revincludes = sorted(
        f"{other}:{code}"
        for other in sorted(R4_RESOURCE_TYPES)
        for code, p in registry.for_type(other).items()
        if p.type == "reference" and res_type in (getattr(p, "targets", None) or ())
    )
    return {
        "type": res_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
        "interaction": [{"code": c} for c in _TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
        "searchInclude": ["*", *includes],
        "searchRevInclude": revincludes,
        "searchParam": search_params,
    }


def capability_statement(server: FhirServer, base_url: str) -> dict[str, Any]:
    """Return the CapabilityStatement for this server as configured."""
    resources = []
    for res_type in sorted(R4_RESOURCE_TYPES):
        entry = dict(_type_entry(server.searcher.registry, res_type))
        if ops := _operation_entries(server, res_type):
            entry["operation"] = ops
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "Ingång",
        "kind": "instance",
        "software": SOFTWARE,
        "implementation": {"description": "Ingång FHIR R4 hub", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json", "xml"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                f"Transactions and batches take at most {server.limits.bundle_max_entries} entries. "
                f"Searches return {server.limits.default_page_size} matches per page by default "
                f"and at most {server.limits.max_page_size}. Unknown search parameters are "
                "ignored with a warning, or refused under 'Prefer: handling=strict'."
            ),
            "resource": resources,
            "interaction": [{"code": c} for c in ("transaction", "batch", "search-system", "history-system")],
            "operation": _operation_entries(server, None),
        }],
    }
