"""The element table the XML converter runs on is fhir.resources' R4B knowledge, unedited.

https://hl7.org/fhir/R4/xml.html
"""

from __future__ import annotations

import json

import pytest

from fhir_api.formats import typegen
from fhir_api.formats.typetable import (
    ATTRIBUTE,
    COMPLEX,
    PRIMITIVE,
    RESOURCE,
    TABLE_PATH,
    XHTML,
    table,
)


@pytest.mark.slow
def test_type_table__is_what_typegen_makes_from_the_installed_fhir_resources() -> None:
    # Stale after a fhir.resources upgrade: run `python -m fhir_api.formats.typegen`.
    assert TABLE_PATH.read_text(encoding="utf-8") == typegen.render(typegen.build_table())


def test_type_table__names_its_source() -> None:
    source = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["source"]

    assert source["fhirVersion"].startswith("4.")
    assert source["fhir.resources"]


def test_type_table__has_every_concrete_resource_and_no_abstract_one() -> None:
    resources = table().resources

    assert {"Patient", "Observation", "Bundle", "Parameters", "Binary", "QuestionnaireResponse",
            "Task", "Communication", "AuditEvent", "Subscription"} <= resources.keys()
    assert "Resource" not in resources and "DomainResource" not in resources
    assert len(resources) > 140


def test_type_table__keeps_definition_order() -> None:
    patient = [element.name for element in table().types["Patient"].elements]

    assert patient[:8] == ["id", "meta", "implicitRules", "language", "text", "contained",
                           "extension", "modifierExtension"]
    assert patient.index("name") < patient.index("gender") < patient.index("birthDate")


def test_type_table__knows_which_elements_repeat() -> None:
    patient = table().types["Patient"].by_key

    assert patient["name"].repeats and patient["contained"].repeats
    assert not patient["gender"].repeats and not patient["birthDate"].repeats
    assert table().types["HumanName"].by_key["given"].repeats


def test_type_table__spells_out_choice_types() -> None:
    observation = table().types["Observation"].by_key

    assert observation["valueQuantity"].type_name == "Quantity"
    assert observation["valueBoolean"].type_name == "boolean"
    assert observation["effectivePeriod"].kind == COMPLEX
    assert "value" not in observation


def test_type_table__tells_numbers_and_booleans_from_strings() -> None:
    types = table().types

    assert types["Quantity"].by_key["value"].json_kind == "d"
    assert types["ContactPoint"].by_key["rank"].json_kind == "i"
    assert types["Patient"].by_key["active"].json_kind == "b"
    assert types["Patient"].by_key["birthDate"].json_kind == "s"


def test_type_table__applies_the_xml_rules_for_attributes_narrative_and_resources() -> None:
    types = table().types

    assert types["HumanName"].by_key["id"].kind == ATTRIBUTE
    assert types["Extension"].by_key["url"].kind == ATTRIBUTE
    assert types["Patient"].by_key["id"].kind == PRIMITIVE
    assert types["Narrative"].by_key["div"].kind == XHTML
    assert types["Patient"].by_key["contained"].kind == RESOURCE
    assert types["BundleEntry"].by_key["resource"].kind == RESOURCE
    assert types["ParametersParameter"].by_key["resource"].kind == RESOURCE


def test_type_table__maps_each_primitive_companion_to_its_element() -> None:
    patient = table().types["Patient"]

    assert patient.by_key["_birthDate"] is patient.by_key["birthDate"]
    assert "_name" not in patient.by_key
