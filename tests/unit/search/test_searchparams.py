"""The registry of R4 search parameters: per type, split expressions, components, types."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fhir_api.searchparams import SearchParamRegistry


@pytest.fixture(scope="module")
def registry() -> SearchParamRegistry:
    return SearchParamRegistry.load()


def test_load__returns_the_same_registry_each_time() -> None:
    assert SearchParamRegistry.load() is SearchParamRegistry.load()


def test_importing__reads_no_file_and_builds_nothing() -> None:
    code = ("import fhir_api.searchparams as s, fhir_api.search, fhir_api.indexing;"
            "print(s._load.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_resource_types__are_the_145_of_r4(registry: SearchParamRegistry) -> None:
    types = registry.resource_types()
    assert len(types) == 145
    assert {"Patient", "Task", "QuestionnaireResponse", "Binary", "Bundle"} <= set(types)


def test_for_type__includes_the_common_parameters(registry: SearchParamRegistry) -> None:
    params = registry.for_type("Patient")
    assert {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} <= set(params)
    assert "_text" not in params and "_content" not in params


def test_for_type__keeps_only_that_types_part_of_a_shared_expression(registry: SearchParamRegistry) -> None:
    email = registry.for_type("Patient")["email"]
    assert email.expression == "Patient.telecom.where(system='email')"
    assert registry.for_type("Observation")["code"].expression == "Observation.code"


def test_search_param__carries_what_the_capability_statement_needs(registry: SearchParamRegistry) -> None:
    identifier = registry.for_type("Patient")["identifier"]
    assert identifier.type == "token"
    assert identifier.definition == "http://hl7.org/fhir/SearchParameter/Patient-identifier"
    assert identifier.documentation == "A patient identifier"
    assert registry.for_type("Task")["owner"].documentation


def test_reference_parameters__list_their_targets(registry: SearchParamRegistry) -> None:
    assert "Patient" in registry.for_type("Observation")["subject"].targets
    assert registry.for_type("Encounter")["service-provider"].targets == ("Organization",)


def test_composite__components_know_their_types(registry: SearchParamRegistry) -> None:
    cvq = registry.for_type("Observation")["code-value-quantity"]
    assert [(c.type, c.expression) for c in cvq.components] == [("token", "code"),
                                                               ("quantity", "value.as(Quantity)")]


def test_single_valued__is_known_for_dates_of_one_element(registry: SearchParamRegistry) -> None:
    assert registry.for_type("Observation")["date"].single_valued
    assert registry.for_type("Patient")["birthdate"].single_valued
    assert not registry.for_type("Encounter")["location-period"].single_valued
    assert not registry.for_type("Observation")["component-value-quantity"].single_valued


def test_types_without_parameters__still_have_the_common_ones(registry: SearchParamRegistry) -> None:
    assert set(registry.for_type("Binary")) == set(registry.common())
