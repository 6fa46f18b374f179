"""Cut resources down for `_summary` and `_elements`, and mark them SUBSETTED.

Which elements are "summary" comes from the fhir.resources R4B models (the
`summary_element_property` flag on each field), read once per type. Only top-level elements
are cut; what is kept is kept whole. A subsetted resource carries the SUBSETTED tag so no
client mistakes it for the full record.
https://hl7.org/fhir/R4/search.html#summary
https://hl7.org/fhir/R4/search.html#elements
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from typing import Any

import orjson

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "subsetted"}
_ALWAYS = ("resourceType", "id", "meta")


@functools.cache
def _fields(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """Return (summary, mandatory) top-level JSON names of a type, from the R4B model."""
    try:
        module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
        model = getattr(module, resource_type)
    except (ImportError, AttributeError):
        return frozenset(), frozenset()
    summary, mandatory = set(), set()
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        key = field.alias or name
        if extra.get("summary_element_property"):
            summary.add(key)
        if field.is_required() or extra.get("element_required") or extra.get("one_of_many_required"):
            mandatory.add(key)
    return frozenset(summary), frozenset(mandatory)


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" and t.get("system") == SUBSETTED["system"] for t in tags):
        tags.append(dict(SUBSETTED))
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def _keep(resource: dict[str, Any], wanted: Iterable[str]) -> dict[str, Any]:
    """Keep `wanted` elements, their `_x` extension twins and every choice variant (`value`)."""
    names = set(wanted)
    out: dict[str, Any] = {}
    for key, value in resource.items():
        bare = key[1:] if key.startswith("_") else key
        if bare in names or key in _ALWAYS or any(
                bare.startswith(n) and bare[len(n):len(n) + 1].isupper() for n in names):
            out[key] = value
    return out


def apply_elements(resource: dict[str, Any], elements: Iterable[str]) -> dict[str, Any]:
    """Return `resource` with only the named top-level elements (plus id and meta), tagged."""
    names = {e.split(".", 1)[-1] if e[:1].isupper() else e for e in elements}
    return _tagged(_keep(resource, names))


def apply_summary(resource: dict[str, Any], mode: str | None) -> dict[str, Any]:
    """Return `resource` as `_summary=mode` shows it: true, text, data, false (count: as true)."""
    if mode in (None, "false"):
        return resource
    rtype = str(resource.get("resourceType", ""))
    summary, mandatory = _fields(rtype)
    if mode == "data":
        return _tagged({k: v for k, v in resource.items() if k not in ("text", "_text")})
    if mode == "text":
        return _tagged(_keep(resource, {"text", *mandatory}))
    if not summary:  # a type the models do not know: only what every resource has
        return _tagged(_keep(resource, ()))
    return _tagged(_keep(resource, summary))


def present(content: str, summary: str | None, elements: Iterable[str] | None) -> str:
    """Return stored JSON as the search asked to show it; untouched (no parse) if nothing to do."""
    if (summary in (None, "false", "count")) and not elements:
        return content
    resource = orjson.loads(content)
    if summary not in (None, "false"):
        resource = apply_summary(resource, summary)
    elif elements:
        resource = apply_elements(resource, elements)
    return orjson.dumps(resource).decode()
