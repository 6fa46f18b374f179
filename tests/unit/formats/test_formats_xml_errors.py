"""Bad input in either direction raises FormatError saying what and where, and nothing else.

The hub turns a FormatError into a 400 OperationOutcome whose expression is `location`; any
other exception would be a 500. XML is also where hostile input arrives (XXE, entity bombs),
so those are refused before anything is resolved or expanded.
https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_api.formats import FormatError, json_to_xml, xml_to_json

PATIENT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir">\n'
           b'  <id value="p"/>\n  <text><status value="generated"/><div '
           b'xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></text>\n'
           b'  <name><family value="F"/><given value="A"/><given value="B"/></name>\n'
           b'  <birthDate value="2000-01-01"><extension url="u"><valueString value="s"/>'
           b'</extension></birthDate>\n  <multipleBirthInteger value="2"/>\n</Patient>\n')


def document(body: str, root: str = "Patient") -> bytes:
    return f'<{root} xmlns="http://hl7.org/fhir">\n{body}\n</{root}>'.encode()


def refusal(data: Any) -> FormatError:
    with pytest.raises(FormatError) as caught:
        xml_to_json(data)
    return caught.value


def test_xml_to_json__refuses_malformed_xml_with_line_and_column() -> None:
    error = refusal(b'<Patient xmlns="http://hl7.org/fhir">\n<id value="a">\n</Patient>')

    assert "not well-formed" in error.message and "mismatch" in error.message
    assert error.location == "line 3, column 11"
    assert error.line == 3


@pytest.mark.parametrize("data", [b"", b"   ", b"not xml", b"<Patient", b"\xff\xfe\x00garbage"])
def test_xml_to_json__refuses_what_is_not_xml_at_all(data: bytes) -> None:
    assert "well-formed" in refusal(data).message


def test_xml_to_json__refuses_a_doctype_so_external_entities_are_never_read() -> None:
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>')

    error = refusal(xxe)

    assert "DOCTYPE" in error.message
    assert "root:" not in str(error)


def test_xml_to_json__refuses_a_doctype_however_far_down_the_prolog_it_hides() -> None:
    padding = b"<!--" + b" " * 10_000 + b"-->"
    sneaky = (b'<?xml version="1.0"?>' + padding + b'<!DOCTYPE Patient SYSTEM "http://127.0.0.1:9/x.dtd">'
              b'<Patient xmlns="http://hl7.org/fhir"/>')

    assert "DOCTYPE" in refusal(sneaky).message


def test_xml_to_json__refuses_entity_expansion_bombs_at_once() -> None:
    entities = "".join(f'<!ENTITY e{n} "{f"&e{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY e0 "lol">{entities}]>'
            '<Patient xmlns="http://hl7.org/fhir"><id value="&e9;"/></Patient>').encode()

    started = time.perf_counter()
    error = refusal(bomb)

    assert "DOCTYPE" in error.message
    assert time.perf_counter() - started < 1


def test_xml_to_json__never_resolves_entities_even_past_the_prolog_check() -> None:
    # UTF-16 hides the DOCTYPE from the byte scan; the parser itself must still refuse it.
    xxe = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE Patient [<!ENTITY x SYSTEM '
           '"file:///etc/passwd">]><Patient xmlns="http://hl7.org/fhir"><id value="&x;"/>'
           '</Patient>').encode("utf-16")

    error = refusal(xxe)

    assert "DOCTYPE" in error.message or "entity" in error.message


@pytest.mark.parametrize(("data", "found"), [
    (b'<Patient xmlns="http://hl7.org/fhir/r5"><id value="a"/></Patient>', "http://hl7.org/fhir/r5"),
    (b'<Patient><id value="a"/></Patient>', "no namespace"),
])
def test_xml_to_json__refuses_a_root_outside_the_fhir_namespace(data: bytes, found: str) -> None:
    error = refusal(data)

    assert "FHIR namespace" in error.message and found in error.message
    assert error.location == "Patient"


def test_xml_to_json__refuses_unknown_elements_with_their_path_and_line() -> None:
    error = refusal(document('<id value="a"/>\n<name>\n<given value="x"/>\n<nick value="y"/>'
                             '</name>'))

    assert error.message == "unknown element <nick> in HumanName"
    assert error.location == "Patient.name[0].nick"
    assert error.line == 5
    assert str(error) == "unknown element <nick> in HumanName at Patient.name[0].nick (line 5)"


@pytest.mark.parametrize(("body", "root", "message", "location"), [
    ("", "Foo", "<Foo> is not a known FHIR resource type", "Foo"),
    ("", "DomainResource", "<DomainResource> is not a known FHIR resource type", "DomainResource"),
    ("<contained><Nope/></contained>", "Patient", "<Nope> is not a known FHIR resource type",
     "Patient.contained[0]"),
    ('<o:id xmlns:o="urn:o" value="a"/>', "Patient",
     "<id> is in urn:o, not the FHIR namespace http://hl7.org/fhir", "Patient.id"),
    ("<name><family value='a'/>hello</name>", "Patient",
     "unexpected text 'hello'; FHIR XML carries values in value attributes", "Patient.name[0]"),
    ('<active value="yes"/>', "Patient", "'yes' is not a boolean (true or false)", "Patient.active"),
    ('<multipleBirthInteger value="1.5"/>', "Patient", "'1.5' is not a valid integer",
     "Patient.multipleBirthInteger"),
    ('<multipleBirthInteger value="2147483648"/>', "Patient",
     "2147483648 is out of range for integer (32-bit)", "Patient.multipleBirthInteger"),
    ('<telecom><rank value="0"/></telecom>', "Patient", "'0' is not a valid positiveInt",
     "Patient.telecom[0].rank"),
    ('<valueQuantity><value value="NaN"/></valueQuantity>', "Observation", "'NaN' is not a decimal",
     "Observation.valueQuantity.value"),
    ('<active value="true"/><active value="false"/>', "Patient",
     "<active> appears more than once but does not repeat (max cardinality 1)", "Patient.active"),
    ("<active/>", "Patient", "<active> has no value attribute and no extensions", "Patient.active"),
    ('<active value="true" foo="1"/>', "Patient",
     "unknown attribute 'foo' on active (a primitive has only value, id and extensions)",
     "Patient.active"),
    ('<name foo="1"/>', "Patient", "unknown attribute 'foo' on HumanName", "Patient.name[0]"),
    ('<extension><url value="x"/></extension>', "Patient",
     "<url> must be an attribute of its parent in FHIR XML", "Patient.extension[0].url"),
    ('<name><given value="a"><family value="b"/></given></name>', "Patient",
     "unexpected <family> in primitive given; only <extension> may appear there",
     "Patient.name[0].given[0]"),
    ("<contained><Patient/><Patient/></contained>", "Patient",
     "<contained> must hold exactly one resource, found 2 elements", "Patient.contained[0]"),
    ('<text><status value="generated"/><div>x</div></text>', "Patient",
     "<div> must be in the XHTML namespace http://www.w3.org/1999/xhtml", "Patient.text.div"),
])
def test_xml_to_json__refuses_what_fhir_xml_does_not_allow(body: str, root: str, message: str,
                                                           location: str) -> None:
    error = refusal(document(body, root))

    assert (error.message, error.location) == (message, location)
    assert error.line is not None


def test_xml_to_json__refuses_anything_but_bytes() -> None:
    error = refusal("<Patient/>")

    assert error.message == "expected the XML as bytes, got str"


def test_xml_to_json__refuses_nesting_deeper_than_the_parser_allows() -> None:
    deep = (b'<Patient xmlns="http://hl7.org/fhir">' + b'<extension url="x">' * 300
            + b"</extension>" * 300 + b"</Patient>")

    assert "depth" in refusal(deep).message


@pytest.mark.parametrize(("resource", "message", "location"), [
    ([], "expected a resource (a JSON object), got an array", ""),
    ({"id": "a"}, "the resource has no resourceType", "resourceType"),
    ({"resourceType": "Nope"}, "resourceType 'Nope' is not a known FHIR resource type", "resourceType"),
    ({"resourceType": "Patient", "nickname": "x"}, "unknown element 'nickname' in Patient",
     "Patient.nickname"),
    ({"resourceType": "Patient", "name": [{"nick": "x"}]}, "unknown element 'nick' in HumanName",
     "Patient.name[0].nick"),
    ({"resourceType": "Patient", "name": {"family": "x"}},
     "'name' repeats, so it must be an array, got an object", "Patient.name"),
    ({"resourceType": "Patient", "active": "true"},
     "expected true or false for boolean, got a string", "Patient.active"),
    ({"resourceType": "Patient", "multipleBirthInteger": True},
     "expected an integer for integer, got a boolean", "Patient.multipleBirthInteger"),
    ({"resourceType": "Patient", "multipleBirthInteger": 1.5},
     "expected an integer for integer, got a number", "Patient.multipleBirthInteger"),
    ({"resourceType": "Observation", "valueQuantity": {"value": Decimal("NaN")}},
     "expected a finite number for decimal, got a number Decimal('NaN')",
     "Observation.valueQuantity.value"),
    ({"resourceType": "Patient", "gender": 1}, "expected a string for code, got a number",
     "Patient.gender"),
    ({"resourceType": "Patient", "name": [{"family": "a\x01b"}]},
     "the character U+0001 cannot appear in XML", "Patient.name[0].family"),
    ({"resourceType": "Patient", "name": [{"given": ["a", None]}]},
     "'given' has a null with no extension at the same index in '_given'", "Patient.name[0].given[1]"),
    ({"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [None]}]},
     "'given' and '_given' must be arrays of the same length, not 2 and 1", "Patient.name[0].given"),
    ({"resourceType": "Patient", "_active": {"foo": 1}},
     "unknown element 'foo' in '_active' (only id and extension are allowed)", "Patient.active.foo"),
    ({"resourceType": "Patient", "_active": {}},
     "'active' has no value, and '_active' has no id or extension either", "Patient.active"),
    ({"resourceType": "Patient", "text": {"div": "<div>x</div>"}},
     'the narrative must be a <div> in the XHTML namespace (<div xmlns="http://www.w3.org/1999/xhtml">)',
     "Patient.text.div"),
    ({"resourceType": "Patient", "text": {
        "div": "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
               "<div xmlns='http://www.w3.org/1999/xhtml'>&e;</div>"}},
     "The narrative div has a DOCTYPE; DTDs and entity declarations are not allowed", "Patient.text.div"),
    ({"resourceType": "Patient", "contained": [{"id": "x"}]}, "the resource has no resourceType",
     "Patient.contained[0].resourceType"),
    ({"resourceType": "Patient", "extension": [{"url": 5}]}, "expected a string, got a number",
     "Patient.extension[0].url"),
])
def test_json_to_xml__refuses_what_it_cannot_write_exactly(resource: Any, message: str,
                                                           location: str) -> None:
    with pytest.raises(FormatError) as caught:
        json_to_xml(resource)

    assert (caught.value.message, caught.value.location) == (message, location)


def test_json_to_xml__refuses_nesting_deeper_than_python_can_follow() -> None:
    root: dict[str, Any] = {"resourceType": "Patient", "extension": []}
    level = root
    for _ in range(3000):
        inner: dict[str, Any] = {"url": "x"}
        level.setdefault("extension", []).append(inner)
        level = inner

    with pytest.raises(FormatError, match="nests too deeply"):
        json_to_xml(root)


def test_format_error__reads_as_message_location_and_line() -> None:
    assert str(FormatError("bad", "Patient.id", line=3)) == "bad at Patient.id (line 3)"
    assert str(FormatError("bad", "line 3, column 4", line=3)) == "bad at line 3, column 4"
    assert str(FormatError("bad", "")) == "bad"


def _mangle(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    for position, length, replacement in edits:
        at = position % (len(data) + 1)
        data = data[:at] + replacement + data[at + length:]
    return data


_SNIPPETS = st.sampled_from([b"<", b">", b"/>", b'"', b"&", b"&amp;", b"<x/>", b"<given/>",
                             b'<extension url="u"/>', b"</name>", b'value="1"', b"\x00", b"\xc3",
                             b"<!DOCTYPE x>", b"<![CDATA[x]]>", b"<!-- -->", b"valueInteger",
                             b"xmlns:h='http://www.w3.org/1999/xhtml'", b"h:", b"9999999999"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(PATIENT)), st.integers(0, 12), _SNIPPETS | st.binary(
    max_size=6)), min_size=1, max_size=4))
def test_xml_to_json__raises_only_format_error_on_mangled_documents(
        edits: list[tuple[int, int, bytes]]) -> None:
    try:
        result = xml_to_json(_mangle(PATIENT, edits))
    except FormatError:
        return
    assert result["resourceType"] == "Patient"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "given", "_given", "family", "extension", "url", "valueString",
                         "id", "text", "div", "contained", "resourceType", "active", "x"]),
        children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "_active", "active", "contained", "extension",
                                        "text", "birthDate", "id", "x"]), _JSON, max_size=4))
def test_json_to_xml__raises_only_format_error_on_arbitrary_json(body: dict[str, Any]) -> None:
    try:
        xml = json_to_xml({"resourceType": "Patient", **body})
    except FormatError:
        return
    assert xml_to_json(xml)["resourceType"] == "Patient"
