"""Read a parsed FHIR XML tree into a resource's JSON form.

The type table says which elements exist, which repeat (JSON arrays) and which primitives are
booleans or numbers; everything the table does not know is an error with a FHIRPath-style
location and line, never a silent drop. Order within the XML is not enforced: JSON has none,
and refusing a misordered but otherwise exact document would help no one.
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from fhir_api.formats.primitives import STRING, FormatError, ParseDecimal, parse_value
from fhir_api.formats.typetable import (
    COMPLEX,
    FHIR_NS,
    PRIMITIVE,
    RESOURCE,
    XHTML_NS,
    Element,
    FhirType,
    table,
)
from fhir_api.formats.xhtml import serialize_div, stray_text

_FHIR_PREFIX = f"{{{FHIR_NS}}}"
_PREFIX_LEN = len(_FHIR_PREFIX)
_EXTENSION_TAG = f"{_FHIR_PREFIX}extension"


def read_resource(node: Any, parse_decimal: ParseDecimal, ignored_ns: str = "",
                  path: str = "") -> dict[str, Any]:
    """Return the JSON form of a resource element such as `<Patient>`, or raise FormatError."""
    name = node.tag[_PREFIX_LEN:] if node.tag.startswith(_FHIR_PREFIX) else node.tag
    fhir_type = table().resources.get(name)
    if fhir_type is None:
        raise FormatError(f"<{etree.QName(node).localname}> is not a known FHIR resource type",
                          path or etree.QName(node).localname, line=node.sourceline)
    if ignored_ns:
        # schemaLocation and friends on the root say nothing FHIR JSON can carry.
        attributes = node.attrib
        for key in list(attributes):
            if key.startswith(f"{{{ignored_ns}}}"):
                del attributes[key]
    out: dict[str, Any] = {"resourceType": fhir_type.name}
    _read_children(node, fhir_type, out, path or fhir_type.name, parse_decimal)
    if not path:
        # After the walk, so that a misplaced element is reported as such, not as its text.
        _refuse_stray_text(node)
    return out


def _refuse_stray_text(root: Any) -> None:
    """Refuse character data where FHIR XML allows only elements (values go in attributes)."""
    text = stray_text(root)
    if text is not None:
        node = text.getparent()
        owner = node.getparent() if text.is_tail else node
        raise _fail(f"unexpected text {text.strip()[:40]!r}; FHIR XML carries values in "
                    "value attributes", locate(owner), node)


def locate(node: Any) -> str:
    """Return a FHIRPath-style location for an element, e.g. `Patient.name[0].given[1]`.

    Walks down from the root with the type table, so repeating elements get their index
    whether or not they happen to repeat in this document. Used only to report errors.
    """
    chain = []
    while node is not None:
        chain.append(node)
        node = node.getparent()
    chain.reverse()
    types = table()
    root = chain[0]
    steps = [etree.QName(root).localname]
    fhir_type: FhirType | None = types.resources.get(steps[0])
    wrapper = False
    for node in chain[1:]:
        if wrapper:  # the resource inside `contained` or `entry.resource` adds no step
            fhir_type, wrapper = types.resources.get(etree.QName(node).localname), False
            continue
        element = fhir_type.by_tag.get(node.tag) if fhir_type is not None else None
        if element is None:
            steps.append(etree.QName(node).localname)
            fhir_type = None
            continue
        index = ""
        if element.repeats:
            parent = node.getparent()
            index = f"[{[n for n in parent if n.tag == node.tag].index(node)}]"
        steps.append(f"{element.name}{index}")
        wrapper = element.kind == RESOURCE
        if element.kind == PRIMITIVE:
            fhir_type = types.types["FHIRPrimitiveExtension"]
        else:
            fhir_type = element.type
    return ".".join(steps)


def _fail(message: str, path: str, node: Any) -> FormatError:
    return FormatError(message, path, line=node.sourceline)


def _read_children(node: Any, fhir_type: FhirType, out: dict[str, Any], path: str,
                   parse_decimal: ParseDecimal) -> None:
    """Fill `out` from an element's attributes and children, as the type prescribes."""
    for key, value in node.items():
        element = fhir_type.attributes.get(key)
        if element is None:
            raise _fail(f"unknown attribute '{key}' on {fhir_type.name}", path, node)
        out[element.name] = value
    by_tag = fhir_type.by_tag
    arrays: dict[str, tuple[Element, list[Any], list[Any]]] | None = None
    for child in list(node):  # one C call makes every child proxy: cheaper than iterating
        tag = child.tag
        if type(tag) is not str:
            continue  # comments and processing instructions carry nothing
        element = by_tag.get(tag)
        if element is None:
            raise _unknown(child, fhir_type, path)
        name = element.name
        kind = element.kind
        if kind == PRIMITIVE:
            if element.repeats:
                if arrays is None:
                    arrays = {}
                entry = arrays.get(name)
                if entry is None:
                    entry = arrays[name] = (element, [], [])
                    out[name] = entry[1]  # a placeholder that keeps keys in document order
                value, extra = _read_primitive(child, element, path, len(entry[1]), parse_decimal)
                entry[1].append(value)
                entry[2].append(extra)
                continue
            if name in out or element.ext_key in out:
                raise _repeated(child, element, path)
            attributes = child.items()
            if len(attributes) == 1 and attributes[0][0] == "value" and not len(child):
                # The bulk of any document: a lone `<code value=".."/>`, read inline.
                if element.json_kind == STRING:
                    out[name] = attributes[0][1]
                else:
                    out[name] = _parse(attributes[0][1], element, path, -1, child, parse_decimal)
                continue
            value, extra = _read_primitive(child, element, path, -1, parse_decimal)
            if value is not None:
                out[name] = value
            if extra is not None:
                out[element.ext_key] = extra
            continue
        items: list[Any] | None = None
        if element.repeats:
            items = out.get(name)
            if items is None:
                items = out[name] = []
            where = f"{path}.{name}[{len(items)}]"
        else:
            if name in out:
                raise _repeated(child, element, path)
            where = f"{path}.{name}"
        if kind == COMPLEX:
            value = {}
            assert element.type is not None
            _read_children(child, element.type, value, where, parse_decimal)
        elif kind == RESOURCE:
            value = _read_wrapped(child, where, parse_decimal)
        else:  # XHTML
            value = serialize_div(child)
        if items is not None:
            items.append(value)
        else:
            out[name] = value
    if arrays:
        _finish_arrays(out, arrays)


def _where(path: str, element: Element, index: int) -> str:
    """Return the location of a primitive: `Patient.name[0].given[1]`, built only for errors."""
    return f"{path}.{element.name}[{index}]" if index >= 0 else f"{path}.{element.name}"


def _parse(text: str, element: Element, path: str, index: int, node: Any,
           parse_decimal: ParseDecimal) -> Any:
    """Parse a boolean or number `value` attribute, or raise FormatError at its element."""
    try:
        return parse_value(text, element.type_name, element.json_kind, parse_decimal)
    except ValueError as exc:
        raise _fail(str(exc), _where(path, element, index), node) from None


def _finish_arrays(out: dict[str, Any],
                   arrays: dict[str, tuple[Element, list[Any], list[Any]]]) -> None:
    """Drop an all-null value array, and add the `_name` array only if some item has one."""
    for element, values, extras in arrays.values():
        if all(value is None for value in values):
            del out[element.name]
        if any(extra is not None for extra in extras):
            out[element.ext_key] = extras


def _read_primitive(node: Any, element: Element, path: str, index: int,
                    parse_decimal: ParseDecimal) -> tuple[Any, dict[str, Any] | None]:
    """Return a primitive element's value and its `_name` companion (id and extensions)."""
    value = None
    extra: dict[str, Any] | None = None
    for key, text in node.items():
        if key == "value":
            if element.json_kind == STRING:
                value = text
            else:
                value = _parse(text, element, path, index, node, parse_decimal)
        elif key == "id":
            extra = {"id": text}
        else:
            raise _fail(f"unknown attribute '{key}' on {element.name} (a primitive has "
                        "only value, id and extensions)", _where(path, element, index), node)
    if len(node):
        extensions: list[Any] = []
        extension_type = table().extension
        for child in node:
            if type(child.tag) is not str:
                continue
            if child.tag != _EXTENSION_TAG:
                raise _fail(f"unexpected <{etree.QName(child).localname}> in primitive "
                            f"{element.name}; only <extension> may appear there",
                            _where(path, element, index), child)
            item: dict[str, Any] = {}
            where = f"{_where(path, element, index)}.extension[{len(extensions)}]"
            _read_children(child, extension_type, item, where, parse_decimal)
            extensions.append(item)
        if extensions:
            extra = extra or {}
            extra["extension"] = extensions
    if value is None and extra is None:
        raise _fail(f"<{element.name}> has no value attribute and no extensions",
                    _where(path, element, index), node)
    return value, extra


def _read_wrapped(node: Any, path: str, parse_decimal: ParseDecimal) -> dict[str, Any]:
    """Read `<contained><Patient>..</Patient></contained>`: one resource inside a wrapper."""
    if len(node.keys()):
        raise _fail(f"unexpected attribute on <{etree.QName(node).localname}>", path, node)
    inner = [child for child in node if type(child.tag) is str]
    if len(inner) != 1:
        raise _fail(f"<{etree.QName(node).localname}> must hold exactly one resource, "
                    f"found {len(inner)} elements", path, node)
    resource = inner[0]
    if not resource.tag.startswith(_FHIR_PREFIX):
        raise _fail(f"<{resource.tag}> is not in the FHIR namespace", path, resource)
    return read_resource(resource, parse_decimal, "", path)


def _unknown(child: Any, fhir_type: FhirType, path: str) -> FormatError:
    """Explain an element the type does not have: unknown name, or right name, wrong namespace."""
    qname = etree.QName(child)
    where = f"{path}.{qname.localname}"
    if qname.namespace != FHIR_NS:
        namespace = qname.namespace or "no namespace"
        return _fail(f"<{qname.localname}> is in {namespace}, not the FHIR namespace {FHIR_NS}",
                     where, child)
    xhtml = fhir_type.by_tag.get(f"{{{XHTML_NS}}}{qname.localname}")
    if xhtml is not None:
        return _fail(f"<{qname.localname}> must be in the XHTML namespace {XHTML_NS}", where, child)
    if qname.localname in fhir_type.attributes:
        return _fail(f"<{qname.localname}> must be an attribute of its parent in FHIR XML",
                     where, child)
    return _fail(f"unknown element <{qname.localname}> in {fhir_type.name}", where, child)


def _repeated(child: Any, element: Element, path: str) -> FormatError:
    return _fail(f"<{element.name}> appears more than once but does not repeat "
                 "(max cardinality 1)", f"{path}.{element.name}", child)
