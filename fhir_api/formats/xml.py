"""Convert FHIR resources between their JSON form (dicts) and FHIR XML.

The hub stores and computes on JSON; XML exists only at the edge, so both directions are
plain walks over the generated type table (`typetable`): lxml parses and the reader walks
its tree, the writer assembles text directly. No model objects (fhir.resources' own XML
support costs 30-50 times as much) and no validation beyond what an exact conversion needs.
Bad input of any kind raises `FormatError` with an element path and line.

Decimals read from XML are `float` by default, as `orjson.loads` makes them on the JSON
path; `xml_to_json(..., parse_decimal=decimal.Decimal)` keeps every digit (see `primitives`).
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from fhir_api.formats.primitives import FormatError, ParseDecimal
from fhir_api.formats.typetable import FHIR_NS
from fhir_api.formats.xhtml import parse_xml
from fhir_api.formats.xml_read import read_resource
from fhir_api.formats.xml_write import write_resource

__all__ = ["FormatError", "json_to_xml", "xml_to_json"]

_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def xml_to_json(data: bytes, *, parse_decimal: ParseDecimal = float) -> dict[str, Any]:
    """Read a FHIR XML resource into its JSON form, or raise FormatError saying where it breaks.

    Integers become `int`, booleans `bool`, decimals `parse_decimal(text)`: `float` by default,
    `decimal.Decimal` to keep their exact digits. Comments are dropped; element order is not
    enforced; anything else the R4 definitions do not allow is refused.
    https://hl7.org/fhir/R4/xml.html
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"expected the XML as bytes, got {type(data).__name__}", "")
    root = parse_xml(bytes(data), "The document")
    qname = etree.QName(root)
    if qname.namespace != FHIR_NS:
        raise FormatError(f"the root element <{qname.localname}> is not in the FHIR namespace "
                          f"{FHIR_NS} (found {qname.namespace or 'no namespace'})",
                          qname.localname, line=root.sourceline)
    try:
        return read_resource(root, parse_decimal, _XSI_NS)
    except RecursionError:
        raise FormatError("the document nests too deeply", qname.localname) from None


def json_to_xml(resource: dict[str, Any], *, pretty: bool = False) -> bytes:
    """Write a resource's JSON form as a FHIR XML document: UTF-8, with an XML declaration.

    Accepts decimals as int, float or Decimal. Raises FormatError if the dict is not a
    resource this converter can represent (unknown type or element, wrong JSON type).
    https://hl7.org/fhir/R4/xml.html
    """
    try:
        return write_resource(resource, pretty).encode("utf-8")
    except RecursionError:
        raise FormatError("the resource nests too deeply", "") from None
