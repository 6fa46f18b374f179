"""Convert FHIR resources between the JSON the hub stores and the other wire formats.

`xml.json_to_xml` and `xml.xml_to_json` do FHIR XML; any input that cannot be converted
exactly raises `FormatError(message, location)`. `json_default` lets orjson write the exact
decimals that `xml_to_json(..., parse_decimal=Decimal)` keeps.
https://hl7.org/fhir/R4/formats.html
"""

from fhir_api.formats.primitives import FormatError, json_default
from fhir_api.formats.xml import json_to_xml, xml_to_json

__all__ = ["FormatError", "json_default", "json_to_xml", "xml_to_json"]
