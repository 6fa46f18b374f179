"""Load the generated element table into the linked lookup structures the converters walk.

`r4b_types.json` (written by `typegen` from fhir.resources' R4B models) says, per type, which
elements exist, in what order, of what type and whether they repeat. Here that becomes one
`FhirType` per type whose `Element`s point straight at their own `FhirType`, plus the rules
that are XML's rather than the model's: Element.id and Extension.url are attributes, and a
narrative's `div` lives in the XHTML namespace. Loaded once, on first use, in a few ms.
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson

from fhir_api.formats.primitives import json_kind

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
TABLE_PATH = Path(__file__).with_name("r4b_types.json")

# How an element is written in XML.
ATTRIBUTE = 0  # an XML attribute: Element.id, Extension.url
PRIMITIVE = 1  # <name value="..."> with optional id attribute and extension children
XHTML = 2  # Narrative.div: parsed XHTML, not a FHIR element
COMPLEX = 3  # <name> with child elements per its own type
RESOURCE = 4  # <name><ResourceType>...</ResourceType></name>: contained, entry.resource


class Element:
    """One element of a type: its names in JSON and XML, its kind, its type, and whether it repeats."""

    __slots__ = (
        "ext_key",
        "index",
        "json_kind",
        "kind",
        "name",
        "repeats",
        "tag",
        "type",
        "type_name",
    )

    def __init__(self, name: str, type_name: str, repeats: bool, kind: int, index: int) -> None:
        self.name = name
        self.ext_key = "_" + name  # the JSON companion holding a primitive's id and extensions
        self.tag = f"{{{XHTML_NS if kind == XHTML else FHIR_NS}}}{name}"
        self.kind = kind
        self.type_name = type_name
        self.json_kind = json_kind(type_name) if kind in (PRIMITIVE, ATTRIBUTE) else ""
        self.repeats = repeats
        self.type: FhirType | None = None  # set once every type exists
        self.index = index


class FhirType:
    """A resource, datatype or backbone element: its elements in the order XML requires."""

    __slots__ = ("attributes", "by_key", "by_tag", "elements", "is_resource", "name", "tag")

    def __init__(self, name: str, is_resource: bool, elements: list[Element]) -> None:
        self.name = name
        self.tag = f"{{{FHIR_NS}}}{name}"
        self.is_resource = is_resource
        self.elements = tuple(elements)
        # JSON keys, with each primitive's `_name` companion leading to the same element.
        self.by_key: dict[str, Element] = {}
        self.by_tag: dict[str, Element] = {}
        self.attributes: dict[str, Element] = {}
        for element in elements:
            self.by_key[element.name] = element
            if element.kind == ATTRIBUTE:
                self.attributes[element.name] = element
            else:
                self.by_tag[element.tag] = element
            if element.kind == PRIMITIVE:
                self.by_key[element.ext_key] = element


class TypeTable:
    """Every type by name, and the concrete resource types that may stand as a document root."""

    __slots__ = ("extension", "resources", "source", "types")

    def __init__(self, types: dict[str, FhirType], resources: dict[str, FhirType],
                 source: dict[str, str]) -> None:
        self.types = types
        self.resources = resources
        self.source = source
        self.extension = types["Extension"]


def _kind(owner: str, is_resource: bool, name: str, type_name: str) -> int:
    """Decide how an element is written in XML, from its type and the XML rules."""
    if name == "id" and not is_resource:
        return ATTRIBUTE  # a resource's id is an element; any other element's id an attribute
    if name == "url" and owner == "Extension":
        return ATTRIBUTE
    if type_name == "xhtml":
        return XHTML
    if type_name == "Resource":
        return RESOURCE
    return PRIMITIVE if type_name[0].islower() else COMPLEX


def build(raw: dict[str, Any]) -> TypeTable:
    """Link a parsed `r4b_types.json` into a TypeTable."""
    resource_names = set(raw["resources"])
    spec: dict[str, list[str]] = raw["types"]
    # Abstract bases are resources too, for the rule that a resource's id is an element.
    resourceish = resource_names | {"Resource", "DomainResource"}
    types: dict[str, FhirType] = {}
    for type_name, entries in spec.items():
        elements = []
        is_resource = type_name in resourceish
        for index, entry in enumerate(entries):
            name, _, element_type = entry.partition(":")
            repeats = element_type.endswith("*")
            element_type = element_type.rstrip("*")
            kind = _kind(type_name, is_resource, name, element_type)
            elements.append(Element(name, element_type, repeats, kind, index))
        types[type_name] = FhirType(type_name, is_resource, elements)
    for fhir_type in types.values():
        for element in fhir_type.elements:
            if element.kind in (COMPLEX, RESOURCE):
                element.type = types[element.type_name]
    resources = {name: types[name] for name in sorted(resource_names)}
    return TypeTable(types, resources, raw.get("source", {}))


@functools.cache
def table() -> TypeTable:
    """Return the shipped type table, loading it on first use."""
    return build(orjson.loads(TABLE_PATH.read_bytes()))
