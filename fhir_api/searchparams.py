"""Answer which search parameters a resource type has, from the official R4 definitions.

The definitions ship trimmed in `fhir_api/data/search-parameters.json` (see
`make_search_parameters.py`), so the hub runs without the full specification at hand. One
R4 SearchParameter often serves many types (`clinical-patient` is on 30); the registry splits
its expression per type, so indexing a Patient never evaluates the Person part. The same
objects feed search, indexing and the CapabilityStatement.
https://hl7.org/fhir/R4/searchparameter-registry.html
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from fhir_api.fhirpath import split_union

DATA_FILE = Path(__file__).parent / "data" / "search-parameters.json"
# Parameters every type has, served from the `resources` row or from `meta`.
COMMON_BASES = ("Resource", "DomainResource")
# Parameters with no expression (_text, _content, _query) and `special` ones (Location near)
# cannot be indexed; the registry leaves them out so nothing advertises them.
INDEXED_TYPES = frozenset({"string", "token", "date", "number", "quantity", "reference", "uri", "composite"})


@dataclass(frozen=True)
class Component:
    """One part of a composite parameter: its value type and where to find it in each match."""

    definition: str
    type: str
    expression: str


@dataclass(frozen=True)
class SearchParam:
    """One search parameter as it applies to one resource type."""

    code: str
    type: str
    url: str
    documentation: str
    expression: str | None
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    comparators: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    multiple_or: bool = True
    multiple_and: bool = True
    # At most one value per resource (dates, numbers, quantities only): repeated parameters
    # may then be tested on the same index row, which turns a range into one index scan.
    single_valued: bool = False

    @property
    def definition(self) -> str:
        """Return the canonical URL, as CapabilityStatement.rest.resource.searchParam.definition wants."""
        return self.url

    @property
    def description(self) -> str:
        """Return the documentation (the name SearchParameter itself uses for it)."""
        return self.documentation


def _applies(part: str, resource_type: str) -> bool:
    """Tell whether one `|` alternative of an expression is about `resource_type`."""
    head = part.lstrip("(").split(".", 1)[0].split(" ", 1)[0].rstrip(")")
    return head == resource_type or head in COMMON_BASES


@dataclass
class SearchParamRegistry:
    """All search parameters of the hub, per resource type; build it with `load()`."""

    raw: list[dict[str, Any]]
    types: tuple[str, ...]
    choice_elements: frozenset[str]
    _by_type: dict[str, Mapping[str, SearchParam]] = field(default_factory=dict, repr=False)
    _by_url: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _by_base: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def __hash__(self) -> int:  # identity: caches key compiled plans by registry
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    @classmethod
    def load(cls, path: Path | None = None) -> SearchParamRegistry:
        """Return the registry for `path` (default: the shipped R4 definitions), loaded once."""
        return _load(str(path or DATA_FILE))

    def resource_types(self) -> tuple[str, ...]:
        """Return every R4 resource type name, sorted."""
        return self.types

    def for_type(self, resource_type: str) -> Mapping[str, SearchParam]:
        """Return the parameters of `resource_type` by code, common ones (`_id` …) included."""
        cached = self._by_type.get(resource_type)
        if cached is None:
            cached = MappingProxyType(self._build(resource_type))
            self._by_type[resource_type] = cached
        return cached

    def common(self) -> Mapping[str, SearchParam]:
        """Return the parameters every resource type has (`_id`, `_lastUpdated`, `_tag` …)."""
        return self.for_type("Resource")

    def _build(self, resource_type: str) -> dict[str, SearchParam]:
        if not self._by_base:
            for sp in self.raw:
                if sp["type"] in INDEXED_TYPES and sp.get("expression"):
                    for base in sp["base"]:
                        self._by_base.setdefault(base, []).append(sp)
        out: dict[str, SearchParam] = {}
        candidates = [sp for b in COMMON_BASES for sp in self._by_base.get(b, ())]
        for sp in candidates + self._by_base.get(resource_type, []):
            parts = [p for p in split_union(sp["expression"]) if _applies(p, resource_type)]
            if not parts:
                continue
            docs = sp.get("description", {})
            out[sp["code"]] = SearchParam(
                code=sp["code"],
                type=sp["type"],
                url=sp["url"],
                documentation=docs.get(resource_type) or next(iter(docs.values()), ""),
                expression=" | ".join(parts),
                targets=tuple(sp.get("target", ())),
                components=tuple(self._component(c) for c in sp.get("component", ())),
                comparators=tuple(sp.get("comparator", ())),
                modifiers=tuple(sp.get("modifier", ())),
                multiple_or=sp.get("multipleOr", True),
                multiple_and=sp.get("multipleAnd", True),
                single_valued=bool({resource_type, *COMMON_BASES} & set(sp.get("singleValued", ()))),
            )
        return out

    def _component(self, comp: dict[str, Any]) -> Component:
        if not self._by_url:
            self._by_url.update((sp["url"], sp) for sp in self.raw)
        target = self._by_url.get(comp["definition"])
        return Component(comp["definition"], target["type"] if target else "special", comp["expression"])


@functools.cache
def _load(path: str) -> SearchParamRegistry:
    doc = orjson.loads(Path(path).read_bytes())
    return SearchParamRegistry(
        raw=doc["params"],
        types=tuple(doc["resourceTypes"]),
        choice_elements=frozenset(doc["choiceElements"]),
    )
