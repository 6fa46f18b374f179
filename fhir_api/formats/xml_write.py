"""Write a resource's JSON form as FHIR XML text.

The text is assembled directly rather than through lxml elements: building an lxml tree
costs 2-3 µs an element, several times the whole cost of writing the text, and the only
part that needs a parser, the narrative div, is still checked by lxml. Keys are placed by
their index in the type table, so output follows definition order whatever order the JSON
came in; each primitive merges with its `_name` companion, arrays with nulls included.
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import Any

from lxml import etree

from fhir_api.formats.primitives import STRING, FormatError, describe_json, format_value
from fhir_api.formats.typetable import (
    ATTRIBUTE,
    COMPLEX,
    FHIR_NS,
    PRIMITIVE,
    RESOURCE,
    Element,
    FhirType,
    table,
)
from fhir_api.formats.xhtml import parse_div

_by_index = attrgetter("index")

# Attribute values: markup characters become references, and so do tab, newline and carriage
# return, which a parser would otherwise normalise to spaces. Other C0 controls, surrogates
# and U+FFFE/U+FFFF cannot appear in XML 1.0 at all.
_SPECIAL = re.compile("[&<>\"\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
            "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    escaped = _ESCAPES.get(char)
    if escaped is None:
        raise ValueError(f"the character U+{ord(char):04X} cannot appear in XML")
    return escaped


def _attr(text: str) -> str:
    """Escape text for a double-quoted attribute value, or raise ValueError."""
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(_escape_char, text)


def write_resource(resource: Any, pretty: bool) -> str:
    """Return a resource dict as an XML document (declaration included), or raise FormatError."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _Writer(out, "  " if pretty else "").resource(resource, "\n" if pretty else "", "", True)
    if pretty:
        out.append("\n")
    return "".join(out)


class _Writer:
    """The output buffer and indentation step of one document being written."""

    __slots__ = ("out", "step")

    def __init__(self, out: list[str], step: str) -> None:
        self.out = out
        self.step = step  # two spaces when pretty-printing, else nothing

    def resource(self, resource: Any, pad: str, location: str, root: bool = False) -> None:
        """Write `<Patient ...>`: a resource named by its resourceType."""
        if not isinstance(resource, dict):
            raise FormatError(f"expected a resource (a JSON object), got "
                              f"{describe_json(resource)}", location)
        name = resource.get("resourceType")
        fhir_type = table().resources.get(name) if isinstance(name, str) else None
        if fhir_type is None:
            problem = ("the resource has no resourceType" if name is None
                       else f"resourceType {name!r} is not a known FHIR resource type")
            raise FormatError(problem, f"{location}.resourceType" if location else "resourceType")
        namespace = f' xmlns="{FHIR_NS}"' if root else ""
        self.object(fhir_type.name, namespace, resource, fhir_type, pad, location or fhir_type.name)

    def object(self, name: str, attrs: str, obj: Any, fhir_type: FhirType, pad: str,
               path: str) -> None:
        """Write one element for a JSON object: attributes first, then children in order."""
        if not isinstance(obj, dict):
            raise FormatError(f"expected an object for {fhir_type.name}, "
                              f"got {describe_json(obj)}", path)
        by_key = fhir_type.by_key
        order: list[Element] = []
        for key, value in obj.items():
            element = by_key.get(key)
            if element is None:
                if key == "resourceType" and fhir_type.is_resource:
                    continue
                raise FormatError(f"unknown element '{key}' in {fhir_type.name}", f"{path}.{key}")
            if element.kind == ATTRIBUTE:
                attrs += self.attribute(element, value, path)
            else:
                order.append(element)
        out = self.out
        if not order:
            out.append(f"{pad}<{name}{attrs}/>")
            return
        out.append(f"{pad}<{name}{attrs}>")
        if len(order) > 1:
            order.sort(key=_by_index)
        inner = pad + self.step
        previous = None
        for element in order:
            if element is previous:
                continue  # a primitive's value and its `_name` companion make one element
            previous = element
            if element.kind == PRIMITIVE and not element.repeats and element.ext_key not in obj:
                # The bulk of any resource: a lone `<code value=".."/>`, written inline.
                value = obj[element.name]
                if value is None:
                    continue
                if type(value) is not str or element.json_kind != STRING or _SPECIAL.search(value) is not None:
                    value = self.value(element, value, f"{path}.{element.name}")
                out.append(f'{inner}<{element.name} value="{value}"/>')
            else:
                self.element(element, obj, inner, path)
        out.append(f"{pad}</{name}>")

    def value(self, element: Element, value: Any, where: str) -> str:
        """Return a primitive's value as attribute text, or raise FormatError."""
        try:
            return _attr(format_value(value, element.type_name, element.json_kind))
        except ValueError as exc:
            raise FormatError(str(exc), where) from None

    def element(self, element: Element, obj: dict[str, Any], pad: str, path: str) -> None:
        """Write one (possibly repeating) element of `obj`."""
        kind = element.kind
        name = element.name
        if kind == PRIMITIVE:
            self.primitive(element, obj.get(name), obj.get(element.ext_key), pad, path)
            return
        value = obj[name]
        if value is None:
            return
        if kind == COMPLEX:
            assert element.type is not None
            if element.repeats:
                for index, item in enumerate(_as_list(value, element, path)):
                    self.object(name, "", item, element.type, pad, f"{path}.{name}[{index}]")
            else:
                self.object(name, "", value, element.type, pad, f"{path}.{name}")
        elif kind == RESOURCE:
            items = _as_list(value, element, path) if element.repeats else [value]
            for index, item in enumerate(items):
                where = f"{path}.{name}[{index}]" if element.repeats else f"{path}.{name}"
                self.out.append(f"{pad}<{name}>")
                self.resource(item, pad + self.step, where)
                self.out.append(f"{pad}</{name}>")
        else:  # XHTML
            self.out.append(pad + _div_text(value, f"{path}.{name}"))

    def attribute(self, element: Element, value: Any, path: str) -> str:
        """Return ` name="value"` for Element.id or Extension.url, which XML makes attributes."""
        if value is None:
            return ""
        if not isinstance(value, str):
            raise FormatError(f"expected a string, got {describe_json(value)}",
                              f"{path}.{element.name}")
        try:
            return f' {element.name}="{_attr(value)}"'
        except ValueError as exc:
            raise FormatError(str(exc), f"{path}.{element.name}") from None

    def primitive(self, element: Element, value: Any, extra: Any, pad: str, path: str) -> None:
        """Write a primitive, or each item of a repeating one, merged with its companion."""
        if not element.repeats:
            if value is not None or extra is not None:
                self.one_primitive(element, value, extra, pad, f"{path}.{element.name}")
            return
        values = [] if value is None else _as_list(value, element, path)
        extras = [] if extra is None else _as_list(extra, element, path)
        if values and extras and len(extras) != len(values):
            raise FormatError(f"'{element.name}' and '{element.ext_key}' must be arrays of the "
                              f"same length, not {len(values)} and {len(extras)}",
                              f"{path}.{element.name}")
        for index in range(max(len(values), len(extras))):
            item = values[index] if values else None
            item_extra = extras[index] if extras else None
            where = f"{path}.{element.name}[{index}]"
            if item is None and item_extra is None:
                raise FormatError(f"'{element.name}' has a null with no extension at the same "
                                  f"index in '{element.ext_key}'", where)
            self.one_primitive(element, item, item_extra, pad, where)

    def one_primitive(self, element: Element, value: Any, extra: Any, pad: str,
                      where: str) -> None:
        """Write `<name id=".." value="..">` with the companion's extensions inside."""
        attrs = "" if value is None else f' value="{self.value(element, value, where)}"'
        if extra is None:
            self.out.append(f"{pad}<{element.name}{attrs}/>")
            return
        if not isinstance(extra, dict):
            raise FormatError(f"'{element.ext_key}' must hold objects with id and extension, "
                              f"got {describe_json(extra)}", where)
        for key in extra:
            if key not in ("id", "extension"):
                raise FormatError(f"unknown element '{key}' in '{element.ext_key}' "
                                  "(only id and extension are allowed)", f"{where}.{key}")
        if value is None and extra.get("id") is None and not extra.get("extension"):
            raise FormatError(f"'{element.name}' has no value, and '{element.ext_key}' has no "
                              "id or extension either", where)
        # The companion is an Element: its id and extensions, written as any element's are.
        self.object(element.name, attrs, extra, _companion_type(), pad, where)


def _companion_type() -> FhirType:
    return table().types["FHIRPrimitiveExtension"]


def _as_list(value: Any, element: Element, path: str) -> list[Any]:
    """Return a repeating element's JSON array, or raise FormatError if it is not one."""
    if type(value) is not list:
        raise FormatError(f"'{element.name}' repeats, so it must be an array, "
                          f"got {describe_json(value)}", f"{path}.{element.name}")
    return value


def _div_text(value: Any, location: str) -> str:
    """Return the narrative's XHTML to embed: checked by parsing, kept verbatim if it can be."""
    if not isinstance(value, str):
        raise FormatError(f"expected the narrative XHTML as a string, got {describe_json(value)}",
                          location)
    div, source = parse_div(value, location)
    # Verbatim keeps the author's spelling (&quot;, <br />), and is possible when the string is
    # the bare div: nothing before or after it that a parser tolerates but an element cannot hold.
    text = source.strip()
    if text.startswith("<div") and (text.endswith("</div>") or text.endswith("/>")):
        return text
    rendered: str = etree.tostring(div, encoding="unicode", with_tail=False)
    return rendered
