"""Parse XML safely, and carry narrative XHTML between its JSON string and an XML subtree.

Every byte of XML the hub reads goes through `parse_xml`: no DTDs, no entity expansion, no
network, libxml2's size limits on. A narrative div travels in JSON as a string and in XML as
embedded XHTML, so it is parsed going out and serialised coming in, with namespace
declarations tidied so the JSON string carries only the ones the div itself uses.
https://hl7.org/fhir/R4/narrative.html#xhtml
"""

from __future__ import annotations

import copy
import html.entities
import re
import threading
from typing import Any

from lxml import etree

from fhir_api.formats.primitives import FormatError
from fhir_api.formats.typetable import FHIR_NS, XHTML_NS

DIV_TAG = f"{{{XHTML_NS}}}div"
# A DOCTYPE can only stand in the prolog, before the root element's start tag.
_DOCTYPE = re.compile(rb"^(?:\xef\xbb\xbf)?(?:\s|<\?[^>]*\?>|<!--(?:[^-]|-[^-])*-->)*<!DOCTYPE")
_PROLOG_SCAN = 4096
_POSITION_SUFFIX = re.compile(r", line \d+, column \d+$")


class _RefuseAll(etree.Resolver):  # type: ignore[misc]
    """Refuse to fetch any external resource, should libxml2 ever ask for one."""

    def resolve(self, url: str, public_id: str, context: Any) -> Any:
        raise ValueError(f"external resource {url!r} refused")


class _Parsers(threading.local):
    """One hardened parser per thread: an lxml parser must not be used by two at once."""

    def __init__(self) -> None:
        # No DTD loading, no entity expansion, no network, libxml2's size limits kept on:
        # the XXE and billion-laughs defences; any DOCTYPE is then refused outright. Leave
        # collect_ids alone: turning it off makes libxml2 read external DTD files.
        self.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
            huge_tree=False, remove_blank_text=False,
        )
        self.parser.resolvers.add(_RefuseAll())
        # Character data directly inside a FHIR element (not inside narrative XHTML) is
        # never allowed; one C-level query finds it faster than checking each element.
        self.stray_text = etree.XPath("//f:*/text()[normalize-space()]",
                                      namespaces={"f": FHIR_NS})


_PARSERS = _Parsers()


def parse_xml(data: bytes | str, what: str) -> Any:
    """Parse a document or fragment with the hardened parser; refuse DTDs and syntax errors."""
    if _DOCTYPE.search(data[:_PROLOG_SCAN] if isinstance(data, bytes) else
                       data[:_PROLOG_SCAN].encode("utf-8", "replace")):
        # Said plainly up front; the parser settings are what make it safe regardless.
        raise FormatError(f"{what} has a DOCTYPE; DTDs and entity declarations are not allowed",
                          "line 1", line=1)
    try:
        root = etree.fromstring(data, _PARSERS.parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        message = _POSITION_SUFFIX.sub("", exc.msg or "syntax error")
        raise FormatError(f"{what} is not well-formed XML: {message}",
                          f"line {line}, column {column}", line=line) from None
    except ValueError as exc:  # e.g. a str that declares its own encoding
        raise FormatError(f"{what} cannot be parsed: {exc}", "") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise FormatError(f"{what} has a DOCTYPE; DTDs and entity declarations are not allowed",
                          "line 1", line=1)
    return root


def stray_text(root: Any) -> Any:
    """Return the first non-blank text directly inside a FHIR element, or None."""
    found = _PARSERS.stray_text(root)
    return found[0] if found else None


# JSON narratives written for browsers sometimes use HTML's named entities, which are not
# XML; numeric references mean the same and parse, so they are swapped in before giving up.
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


def _numeric_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    code = html.entities.name2codepoint.get(name)
    if name in _XML_ENTITIES or code is None:
        return match.group(0)
    return f"&#{code};"


# XML turns a raw tab, newline or carriage return inside an attribute value into a space;
# one written as a character reference survives. See `keep_attribute_whitespace`.
_ATTR_WHITESPACE = {"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_RAW_WHITESPACE = re.compile("[\t\n\r]")
_RESTORE = {ref: char for char, ref in _ATTR_WHITESPACE.items()}
_SWAP_STARTS = frozenset("\t\n\r&")
# Markup that may hold quotes or '<' without them opening an attribute value or a tag.
_SKIPPED = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>"))


def keep_attribute_whitespace(text: str, swaps: dict[str, str] | None = None) -> str:
    """Write raw tabs and line breaks inside attribute values as character references.

    A JSON narrative is a string people and programs write by hand; a line break typed into
    `title="..."` means a line break, and the XML written from it must keep it one, which
    only a character reference does (XML attribute-value normalization makes raw ones spaces).
    Text content, comments and CDATA are left exactly as they are.
    https://www.w3.org/TR/xml/#AVNormalize
    """
    if swaps is None:
        if _RAW_WHITESPACE.search(text) is None:
            return text
        swaps = _ATTR_WHITESPACE
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        lt = text.find("<", i)
        if lt < 0:
            out.append(text[i:])
            break
        out.append(text[i:lt])
        skipped = next(((start, end) for start, end in _SKIPPED if text.startswith(start, lt)), None)
        if skipped is not None:
            stop = text.find(skipped[1], lt + len(skipped[0]))
            stop = n if stop < 0 else stop + len(skipped[1])
            out.append(text[lt:stop])
            i = stop
            continue
        i = _copy_tag(text, lt, out, swaps)
    return "".join(out)


def restore_attribute_whitespace(text: str) -> str:
    """Undo `keep_attribute_whitespace` on a serialised div: `&#10;` in a value becomes a line break.

    So a narrative read from XML carries its attribute line breaks in JSON the way a JSON
    author types them, and JSON to XML to JSON gives back the very string it started from.
    """
    if "&#" not in text:
        return text
    return keep_attribute_whitespace(text, _RESTORE)


def _copy_tag(text: str, start: int, out: list[str], swaps: dict[str, str]) -> int:
    """Copy one tag from `start`, swapping text in its quoted values; return where it ends."""
    i, n = start, len(text)
    quote = ""
    begun = i
    while i < n:
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
            elif char in _SWAP_STARTS and (found := next((k for k in swaps if text.startswith(k, i)), None)):
                out.append(text[begun:i])
                out.append(swaps[found])
                i += len(found)
                begun = i
                continue
        elif char in "\"'":
            quote = char
        elif char == ">":
            i += 1
            break
        i += 1
    out.append(text[begun:i])
    return i


def parse_div(text: str, location: str) -> tuple[Any, str]:
    """Parse a narrative's XHTML from its JSON string: the div element, and the text parsed.

    The text differs from the input only where HTML named entities had to be made numeric
    and where attribute values held raw tabs or line breaks (`keep_attribute_whitespace`).
    """
    text = keep_attribute_whitespace(text)
    try:
        div = parse_xml(text, "The narrative div")
    except FormatError as exc:
        repaired = _NAMED_ENTITY.sub(_numeric_entity, text)
        if repaired == text:
            raise FormatError(exc.message, location) from None
        try:
            div = parse_xml(repaired, "The narrative div")
        except FormatError:
            raise FormatError(exc.message, location) from None
        text = repaired
    if div.tag != DIV_TAG:
        raise FormatError("the narrative must be a <div> in the XHTML namespace "
                          f'(<div xmlns="{XHTML_NS}">)', location)
    return div, text


def serialize_div(div: Any) -> str:
    """Serialise an embedded narrative div as JSON carries it, declaring only what it uses."""
    if div.prefix is None and len(div.nsmap) == 1:
        # The common case: the div redeclares the default namespace and inherits nothing else.
        text: str = etree.tostring(div, encoding="unicode", with_tail=False)
        return restore_attribute_whitespace(text)
    prefixed = any(node.prefix is not None and node.tag.startswith(f"{{{XHTML_NS}}}")
                   for node in div.iter() if isinstance(node.tag, str))
    div = _unprefixed(div) if prefixed else copy.deepcopy(div)
    div.tail = None
    # lxml serialises a subtree with every declaration in scope; keep only those used.
    etree.cleanup_namespaces(div, top_nsmap={None: XHTML_NS})
    text = etree.tostring(div, encoding="unicode", with_tail=False)
    return restore_attribute_whitespace(text)


def _unprefixed(node: Any, parent: Any = None) -> Any:
    """Rebuild `h:div`-style XHTML with the default namespace, as FHIR JSON expects."""
    if parent is None:
        copied = etree.Element(node.tag, dict(node.attrib), nsmap={None: XHTML_NS})
    else:
        copied = etree.SubElement(parent, node.tag, dict(node.attrib))
    copied.text = node.text
    copied.tail = node.tail
    for child in node:
        if isinstance(child.tag, str):
            _unprefixed(child, copied)
        else:
            copied.append(copy.copy(child))
    return copied
