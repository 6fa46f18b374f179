"""The shape of FHIR XML: element order, attributes, choice types, narrative, nested resources.

https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree

from fhir_api.formats import json_to_xml, xml_to_json

F = "{http://hl7.org/fhir}"
H = "{http://www.w3.org/1999/xhtml}"
XHTML = "http://www.w3.org/1999/xhtml"


def xml_of(resource: dict[str, Any], *, pretty: bool = False) -> Any:
    return etree.fromstring(json_to_xml(resource, pretty=pretty))


def names(element: Any) -> list[str]:
    return [etree.QName(child).localname for child in element]


def c14n(text: str) -> bytes:
    canonical: bytes = etree.tostring(etree.fromstring(text.encode()), method="c14n")
    return canonical


def test_json_to_xml__makes_the_resource_type_the_root_in_the_fhir_namespace() -> None:
    xml = json_to_xml({"resourceType": "Patient", "id": "p1"})

    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = etree.fromstring(xml)
    assert root.tag == F + "Patient"
    assert root.nsmap == {None: "http://hl7.org/fhir"}


def test_json_to_xml__orders_elements_by_definition_not_by_json_key_order() -> None:
    patient = {"gender": "male", "name": [{"given": ["A"], "family": "B", "use": "official"}],
               "active": True, "id": "p1", "resourceType": "Patient", "identifier": [{"value": "1"}]}

    root = xml_of(patient)

    assert names(root) == ["id", "identifier", "active", "name", "gender"]
    assert names(root.find(F + "name")) == ["use", "family", "given"]


def test_json_to_xml__keeps_a_resource_id_as_an_element_but_element_ids_as_attributes() -> None:
    root = xml_of({"resourceType": "Patient", "id": "p1",
                   "name": [{"id": "n1", "family": "B"}]})

    assert root.find(F + "id").get("value") == "p1"
    assert root.find(F + "name").attrib == {"id": "n1"}


def test_json_to_xml__writes_extension_url_as_an_attribute_before_its_value() -> None:
    root = xml_of({"resourceType": "Patient", "extension": [
        {"id": "e1", "url": "http://example.org/a", "valueBoolean": True}]})

    extension = root.find(F + "extension")
    assert extension.attrib == {"id": "e1", "url": "http://example.org/a"}
    assert names(extension) == ["valueBoolean"]


def test_xml_round_trip__nested_and_modifier_extensions_keep_their_urls() -> None:
    patient = {"resourceType": "Patient", "modifierExtension": [{
        "url": "http://example.org/outer",
        "extension": [{"url": "inner", "valueCodeableConcept": {"text": "x"}},
                      {"url": "other", "valueQuantity": {"value": 2, "unit": "mg"}}],
    }]}

    assert xml_to_json(json_to_xml(patient)) == patient


def test_xml_round_trip__choice_types_keep_their_type_suffix() -> None:
    observation = {
        "resourceType": "Observation", "status": "final", "code": {"text": "bp"},
        "effectivePeriod": {"start": "2024-01-01"},
        "valueQuantity": {"value": 120, "unit": "mmHg"},
        "component": [{"code": {"text": "c"}, "valueString": "x"},
                      {"code": {"text": "d"}, "valueBoolean": False}],
    }

    root = xml_of(observation)

    assert names(root) == ["status", "code", "effectivePeriod", "valueQuantity", "component",
                           "component"]
    assert xml_to_json(json_to_xml(observation)) == observation


def test_json_to_xml__embeds_the_narrative_as_parsed_xhtml() -> None:
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello <b>you</b></p>'
           '<table><tr><td class="x">1 &lt; 2 &amp; 3</td></tr></table></div>')

    root = xml_of({"resourceType": "Patient", "text": {"status": "generated", "div": div}})

    embedded = root.find(f"{F}text/{H}div")
    assert embedded is not None
    assert embedded.find(f"{H}p/{H}b").text == "you"
    assert embedded.find(f".//{H}td").text == "1 < 2 & 3"


def test_xml_round_trip__narrative_with_nested_xhtml_entities_and_comments_survives() -> None:
    div = ('<div xmlns="http://www.w3.org/1999/xhtml">\n  <h1 id="t">R&amp;D &#8212; &quot;x&quot;'
           '</h1><!-- note --><ul><li>a<br/>b</li><li><a href="http://x?a=1&amp;b=2">l</a></li></ul>'
           '<img src="data:," alt="&lt;none&gt;"/>\u00a0</div>')
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}

    back = xml_to_json(json_to_xml(patient))

    assert c14n(back["text"]["div"]) == c14n(div)


def test_xml_round_trip__line_breaks_and_tabs_in_narrative_attributes_survive() -> None:
    div = ('<div xmlns="http://www.w3.org/1999/xhtml" title="first\nsecond">text\nstays'
           "<p class=\"a\tb\" title=\"one\r\ntwo\">x</p><!-- a \"quote\n --></div>")
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}

    xml = json_to_xml(patient)
    back = xml_to_json(xml)["text"]["div"]

    written = etree.fromstring(xml).find(f"{F}text/{H}div")
    assert written.get("title") == "first\nsecond"
    assert written.find(f"{H}p").get("class") == "a\tb"
    assert written.find(f"{H}p").get("title") == "one\r\ntwo"
    assert written.text == "text\nstays"
    assert back == div


def test_xml_round_trip__attribute_line_breaks_from_xml_come_back_as_written_there() -> None:
    xml = (b'<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/>'
           b'<div xmlns="http://www.w3.org/1999/xhtml" title="a&#10;b">x&#13;</div></text></Patient>')

    again = json_to_xml(xml_to_json(xml))

    assert etree.fromstring(again).find(f"{F}text/{H}div").get("title") == "a\nb"
    assert b'title="a&#10;b">x&#13;</div>' in again


def test_json_to_xml__keeps_a_bare_json_narrative_verbatim() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml">&quot;as written&quot;<br /></div>'

    xml = json_to_xml({"resourceType": "Patient", "text": {"status": "generated", "div": div}})

    assert div.encode() in xml


def test_json_to_xml__accepts_html_named_entities_in_a_json_narrative() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml">a&nbsp;b &copy; &amp;</div>'

    back = xml_to_json(json_to_xml({"resourceType": "Patient",
                                    "text": {"status": "generated", "div": div}}))

    assert back["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml">a\u00a0b © &amp;</div>'


def test_xml_to_json__gives_the_narrative_only_the_declarations_it_uses() -> None:
    xml = (b'<Patient xmlns="http://hl7.org/fhir" '
           b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           b'xmlns:h="http://www.w3.org/1999/xhtml"><text><status value="generated"/>'
           b'<h:div><h:p>prefixed</h:p></h:div></text></Patient>')

    div = xml_to_json(xml)["text"]["div"]

    assert div == '<div xmlns="http://www.w3.org/1999/xhtml"><p>prefixed</p></div>'


def test_xml_round_trip__contained_resources_are_wrapped_in_an_element_of_their_type() -> None:
    patient = {"resourceType": "Patient", "id": "p",
               "contained": [{"resourceType": "Organization", "id": "o", "name": "Clinic"},
                             {"resourceType": "Practitioner", "id": "d", "active": True}],
               "managingOrganization": {"reference": "#o"}}

    root = xml_of(patient)

    contained = root.findall(F + "contained")
    assert [names(wrapper) for wrapper in contained] == [["Organization"], ["Practitioner"]]
    assert names(contained[0][0]) == ["id", "name"]
    assert xml_to_json(json_to_xml(patient)) == patient


def test_xml_round_trip__bundle_entries_hold_resources_with_their_own_contained() -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "t"},
            "contained": [{"resourceType": "Patient", "id": "c", "active": True}],
            "subject": {"reference": "#c"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient", "id": "deep"}}]}},
    ]}

    root = xml_of(bundle)

    entry = root.find(F + "entry")
    assert names(entry) == ["fullUrl", "resource", "request"]
    assert names(entry.find(F + "resource")) == ["Observation"]
    assert xml_to_json(json_to_xml(bundle)) == bundle


def test_xml_round_trip__parameters_carry_resources_values_and_parts() -> None:
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "id": "p"}},
        {"name": "count", "valueInteger": 3},
        {"name": "group", "part": [{"name": "flag", "valueBoolean": True}]},
    ]}

    assert xml_to_json(json_to_xml(parameters)) == parameters


def test_json_to_xml__pretty_output_indents_fhir_elements_but_not_the_narrative() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>a</p><p>b</p></div>'
    patient = {"resourceType": "Patient", "id": "p", "text": {"status": "generated", "div": div},
               "name": [{"family": "F", "given": ["G"]}]}

    pretty = json_to_xml(patient, pretty=True).decode()

    assert "\n  <id value=\"p\"/>\n" in pretty
    assert "\n    <family value=\"F\"/>\n" in pretty
    assert div in pretty
    assert xml_to_json(pretty.encode()) == patient


def test_xml_to_json__ignores_comments_processing_instructions_and_schema_location() -> None:
    xml = (b'<?xml version="1.0"?><!-- top --><Patient xmlns="http://hl7.org/fhir" '
           b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           b'xsi:schemaLocation="http://hl7.org/fhir ../../schema/patient.xsd">'
           b'<!-- c --><id value="p"/><?pi x?><active value="true"><!-- c --></active></Patient>')

    assert xml_to_json(xml) == {"resourceType": "Patient", "id": "p", "active": True}


def test_xml_to_json__accepts_elements_out_of_definition_order() -> None:
    # JSON has no order to keep, so a misordered but otherwise exact document is read.
    xml = b'<Patient xmlns="http://hl7.org/fhir"><gender value="male"/><id value="p"/></Patient>'

    assert xml_to_json(xml) == {"resourceType": "Patient", "gender": "male", "id": "p"}


def test_xml_to_json__is_safe_to_call_from_many_threads() -> None:
    documents = [json_to_xml({"resourceType": "Patient", "id": f"p{n}",
                              "name": [{"given": [f"G{n}"] * 20}]}) for n in range(8)]
    expected = [xml_to_json(document) for document in documents]
    results: list[bool] = []

    def work(index: int) -> None:
        for _ in range(50):
            results.append(xml_to_json(documents[index]) == expected[index])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 400 and all(results)
