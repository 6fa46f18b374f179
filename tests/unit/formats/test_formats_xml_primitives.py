"""Primitive values in FHIR XML: value attributes, `_name` companions, nulls, numbers, text.

JSON splits a primitive into its value and a `_name` companion holding its id and
extensions; XML puts all three on one element. These tests pin the mapping both ways.
https://hl7.org/fhir/R4/json.html#primitive
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from lxml import etree

from fhir_api.formats import json_default, json_to_xml, xml_to_json

F = "{http://hl7.org/fhir}"


def xml_of(resource: dict[str, Any]) -> Any:
    return etree.fromstring(json_to_xml(resource))


def document(body: str, root: str = "Patient") -> bytes:
    return f'<{root} xmlns="http://hl7.org/fhir">{body}</{root}>'.encode()


def test_json_to_xml__writes_primitives_as_value_attributes() -> None:
    root = xml_of({"resourceType": "Patient", "active": True, "gender": "female",
                   "multipleBirthInteger": 2})

    assert [(child.tag, child.attrib) for child in root] == [
        (F + "active", {"value": "true"}),
        (F + "gender", {"value": "female"}),
        (F + "multipleBirthInteger", {"value": "2"}),
    ]


def test_xml_round_trip__primitive_with_id_and_extension_keeps_its_companion() -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "1974-12-25",
        "_birthDate": {"id": "bd", "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1974-12-25T14:35:45-05:00",
        }]},
    }
    root = xml_of(patient)

    birth = root.find(F + "birthDate")
    assert birth.attrib == {"value": "1974-12-25", "id": "bd"}
    assert birth[0].get("url") == "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
    assert xml_to_json(json_to_xml(patient)) == patient


def test_xml_round_trip__primitive_with_only_an_extension_has_no_value() -> None:
    patient = {"resourceType": "Patient", "_gender": {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"},
    ]}}

    assert "value" not in xml_of(patient).find(F + "gender").attrib
    assert xml_to_json(json_to_xml(patient)) == patient


def test_xml_round_trip__repeating_primitive_with_nulls_keeps_positions() -> None:
    patient = {"resourceType": "Patient", "name": [{
        "given": ["Peter", None, "Jim"],
        "_given": [None, {"extension": [{"url": "http://example.org/nick", "valueString": "J"}]},
                   {"id": "g3"}],
    }]}
    root = xml_of(patient)

    given = root.findall(f"{F}name/{F}given")
    assert [element.attrib for element in given] == [
        {"value": "Peter"}, {}, {"value": "Jim", "id": "g3"}]
    assert len(given[1]) == 1
    assert xml_to_json(json_to_xml(patient)) == patient


def test_xml_to_json__omits_the_value_array_when_no_item_has_a_value() -> None:
    xml = document('<name><given id="a"/><given id="b"/></name>')

    assert xml_to_json(xml) == {"resourceType": "Patient",
                                "name": [{"_given": [{"id": "a"}, {"id": "b"}]}]}


def test_xml_to_json__omits_the_companion_array_when_no_item_has_extras() -> None:
    xml = document('<name><given value="a"/><given value="b"/></name>')

    assert xml_to_json(xml) == {"resourceType": "Patient", "name": [{"given": ["a", "b"]}]}


def test_xml_to_json__reads_booleans_and_integers_as_json_types() -> None:
    xml = document('<active value="false"/><multipleBirthInteger value="-3"/>')

    result = xml_to_json(xml)

    assert result["active"] is False
    assert result["multipleBirthInteger"] == -3
    assert type(result["multipleBirthInteger"]) is int


@pytest.mark.parametrize(("root", "body", "path", "expected"), [
    ("Observation", '<status value="final"/><code><text value="x"/></code>'
     '<component><code><text value="c"/></code><valueInteger value="7"/></component>',
     ("component", 0, "valueInteger"), 7),
    ("Patient", '<telecom><rank value="1"/></telecom>', ("telecom", 0, "rank"), 1),
    ("Bundle", '<type value="searchset"/><total value="0"/>', ("total",), 0),
])
def test_xml_to_json__reads_every_integer_type_as_int(root: str, body: str,
                                                      path: tuple[Any, ...], expected: int) -> None:
    value: Any = xml_to_json(document(body, root))
    for step in path:
        value = value[step]

    assert value == expected and type(value) is int


def test_xml_to_json__reads_decimals_as_float_by_default() -> None:
    result = xml_to_json(document('<valueQuantity><value value="37.50"/></valueQuantity>'
                                  '<status value="final"/><code><text value="t"/></code>',
                                  "Observation"))

    assert result["valueQuantity"]["value"] == 37.5
    assert type(result["valueQuantity"]["value"]) is float


@pytest.mark.parametrize("text", ["37.50", "0.000000001", "1.0E+3", "-0.10",
                                  "3.14159265358979323846264338327950288"])
def test_xml_to_json__keeps_every_digit_with_parse_decimal_decimal(text: str) -> None:
    xml = document(f'<status value="final"/><code><text value="t"/></code>'
                   f'<valueQuantity><value value="{text}"/></valueQuantity>', "Observation")

    result = xml_to_json(xml, parse_decimal=Decimal)

    value = result["valueQuantity"]["value"]
    assert isinstance(value, Decimal) and str(value) == str(Decimal(text))
    assert f'value="{value}"' in json_to_xml(result).decode()


def test_xml_to_json__reads_integer_valued_decimals_as_int_like_json_does() -> None:
    xml = document('<status value="final"/><code><text value="t"/></code>'
                   '<valueQuantity><value value="185"/></valueQuantity>', "Observation")

    assert type(xml_to_json(xml)["valueQuantity"]["value"]) is int
    assert type(xml_to_json(xml, parse_decimal=Decimal)["valueQuantity"]["value"]) is int


@pytest.mark.parametrize(("number", "text"), [
    (0.1, "0.1"), (37.5, "37.5"), (100.0, "100.0"), (1e-07, "1e-07"), (120, "120"),
    (Decimal("1.50"), "1.50"), (Decimal("1E+2"), "1E+2"),
])
def test_json_to_xml__writes_decimals_in_a_form_that_reads_back_equal(number: Any, text: str) -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "t"},
                   "valueQuantity": {"value": number}}

    xml = json_to_xml(observation)

    assert f'<value value="{text}"/>' in xml.decode()
    parse = Decimal if isinstance(number, Decimal) else float
    assert xml_to_json(xml, parse_decimal=parse)["valueQuantity"]["value"] == number


def test_json_default__lets_orjson_write_exact_decimals() -> None:
    xml = document('<status value="final"/><code><text value="t"/></code>'
                   '<valueQuantity><value value="1.50"/></valueQuantity>', "Observation")

    text = orjson.dumps(xml_to_json(xml, parse_decimal=Decimal), default=json_default)

    assert b'"value":1.50' in text


def test_json_default__still_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        orjson.dumps({"a": object()}, default=json_default)


@pytest.mark.parametrize("text", [
    'a < b & c > d "quoted" \'single\'',
    "line one\nline two\r\nwith\ttab",
    "Åsa Öberg, Malmö — naïve café 🏥",
    "  leading and trailing spaces  ",
])
def test_xml_round_trip__keeps_any_text_a_string_can_hold(text: str) -> None:
    patient = {"resourceType": "Patient", "name": [{"text": text}]}

    assert xml_to_json(json_to_xml(patient)) == patient


def test_json_to_xml__escapes_line_breaks_so_parsers_do_not_normalise_them() -> None:
    xml = json_to_xml({"resourceType": "Patient", "name": [{"text": "a\nb\tc\rd"}]})

    assert b'value="a&#10;b&#9;c&#13;d"' in xml


@pytest.mark.parametrize("encoding", ["utf-16", "iso-8859-1", "utf-8"])
def test_xml_to_json__reads_documents_in_any_declared_encoding(encoding: str) -> None:
    text = (f'<?xml version="1.0" encoding="{encoding}"?>'
            '<Patient xmlns="http://hl7.org/fhir"><name><family value="Öberg"/></name></Patient>')

    result = xml_to_json(text.encode(encoding))

    assert result == {"resourceType": "Patient", "name": [{"family": "Öberg"}]}
