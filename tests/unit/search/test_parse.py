"""Reading search parameters into a SearchQuery, and refusing what cannot be honoured."""

from __future__ import annotations

from datetime import datetime

import pytest

from fhir_api.outcomes import BadRequest
from fhir_api.search import SearchQuery, parse_query
from fhir_api.search.model import (
    CompositeValue,
    DateValue,
    NumberValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from fhir_api.search.paging import encode_cursor
from fhir_api.searchparams import SearchParamRegistry

REGISTRY = SearchParamRegistry.load()


def parse(rtype: str | None, query: str, *, strict: bool = False, base_url: str | None = None) -> SearchQuery:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p] if query else []
    return parse_query(rtype, pairs, REGISTRY, strict=strict, default_count=20, max_count=100,  # type: ignore[arg-type]
                       base_url=base_url)


def bad(rtype: str | None, query: str, **kw: bool) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse(rtype, query, **kw)
    return info.value


def value(rtype: str, query: str) -> object:
    return parse(rtype, query).criteria[0].values[0]


def test_string__keeps_the_raw_text_and_its_normal_form() -> None:
    assert value("Patient", "name=Öberg") == StringValue("Öberg", "oberg")


def test_string__unknown_modifier_is_an_error_naming_the_parameter() -> None:
    err = bad("Patient", "name:sounds=x")
    assert err.issues[0].expression == ("name:sounds",)


@pytest.mark.parametrize(("raw", "expected"), [
    ("abc", TokenValue(None, "abc")),
    ("http://s|abc", TokenValue("http://s", "abc")),
    ("|abc", TokenValue("", "abc")),
    ("http://s|", TokenValue("http://s", None)),
    (r"a\|b", TokenValue(None, "a|b")),
])
def test_token__reads_every_system_and_code_form(raw: str, expected: TokenValue) -> None:
    assert value("Patient", f"identifier={raw}") == expected


def test_token_text__is_normalised_free_text() -> None:
    assert value("Observation", "code:text=Blodtryck Övre") == TokenValue(None, None, "blodtryck ovre")


def test_comma__gives_several_values_and_repetition_gives_several_criteria() -> None:
    query = parse("Patient", "gender=male,female&name=a&name=b")
    assert [len(c.values) for c in query.criteria] == [2, 1, 1]


def test_date__reads_prefix_and_interval() -> None:
    assert value("Observation", "date=ge2024-03") == DateValue(
        "ge", datetime(2024, 3, 1), datetime(2024, 3, 31, 23, 59, 59, 999999))


@pytest.mark.parametrize("raw", ["2024-13-01", "xx2024", "ge", "2024-01-01T10"])
def test_date__malformed_value_is_an_error_naming_the_parameter(raw: str) -> None:
    err = bad("Observation", f"date={raw}")
    assert err.issues[0].expression == ("date",)
    assert "date" in err.diagnostics


def test_quantity__reads_prefix_number_system_and_code() -> None:
    assert value("Observation", "value-quantity=le5.4|http://unitsofmeasure.org|mg") == NumberValue(
        "le", 5.4, 5.35, 5.45, "http://unitsofmeasure.org", "mg")
    assert value("Observation", "value-quantity=5.4||mg") == NumberValue("eq", 5.4, 5.35, 5.45, None, "mg")


def test_number__malformed_value_is_an_error() -> None:
    assert bad("RiskAssessment", "probability=gtx").issues[0].expression == ("probability",)


def test_reference__reads_type_and_id_bare_id_and_urls() -> None:
    assert value("Observation", "subject=Patient/p1") == ReferenceValue("Patient", "p1")
    assert value("Observation", "subject=p1") == ReferenceValue(None, "p1")
    assert value("Encounter", "service-provider=u1") == ReferenceValue("Organization", "u1")
    assert value("Observation", "subject=http://other/fhir/Patient/p1") == ReferenceValue(
        None, None, "http://other/fhir/Patient/p1")


def test_reference__to_our_own_base_url_is_local() -> None:
    query = parse("Observation", "subject=https://hub.ex/fhir/Patient/p1", base_url="https://hub.ex/fhir")
    assert query.criteria[0].values[0] == ReferenceValue("Patient", "p1")


def test_reference_type_modifier__restricts_the_target_type() -> None:
    crit = parse("Observation", "subject:Patient=p1").criteria[0]
    assert crit.target_types == ("Patient",)
    assert crit.values[0] == ReferenceValue("Patient", "p1")


def test_chain__parses_the_target_criterion_on_the_target_types() -> None:
    crit = parse("Observation", "subject:Patient.identifier=s|1").criteria[0]
    assert crit.chain is not None and crit.chain.types == ("Patient",)
    assert crit.chain.values == (TokenValue("s", "1"),)
    untyped = parse("Observation", "subject.name=x").criteria[0]
    assert untyped.chain is not None and set(untyped.chain.types) == {"Patient", "Location"}


@pytest.mark.parametrize(("query", "culprit"), [
    ("status.name=x", "status.name"),
    ("subject.organization.name=x", "subject.organization.name"),
    ("subject.nonsense=x", "subject.nonsense"),
    ("subject:Nonsense.name=x", "subject:Nonsense.name"),
])
def test_chain__that_cannot_be_followed_is_an_error(query: str, culprit: str) -> None:
    assert bad("Observation", query).issues[0].expression == (culprit,)


def test_uri_above__lists_every_parent() -> None:
    assert value("ValueSet", "url:above=http://ex.se/fhir/ValueSet/a") == UriValue(
        "http://ex.se/fhir/ValueSet/a",
        ("http://ex.se/fhir/ValueSet/a", "http://ex.se/fhir/ValueSet", "http://ex.se/fhir", "http://ex.se"))


def test_composite__reads_one_value_per_component() -> None:
    got = value("Observation", "code-value-quantity=http://loinc.org|8480-6$gt100")
    assert got == CompositeValue((TokenValue("http://loinc.org", "8480-6"),
                                  NumberValue("gt", 100.0, 99.5, 100.5)))
    assert bad("Observation", "code-value-quantity=8480-6").issues[0].expression == ("code-value-quantity",)


def test_missing__takes_true_or_false_only() -> None:
    assert parse("Patient", "gender:missing=true").criteria[0].missing is True
    assert bad("Patient", "gender:missing=yes").issues[0].expression == ("gender:missing",)


def test_unknown_parameter__is_a_warning_or_under_strict_an_error() -> None:
    query = parse("Patient", "shoe-size=42&name=x")
    assert [c.code for c in query.criteria] == ["name"]
    assert query.warnings[0].severity == "warning" and query.warnings[0].expression == ("shoe-size",)
    assert bad("Patient", "shoe-size=42", strict=True).issues[0].expression == ("shoe-size",)


def test_empty_value__places_no_constraint() -> None:
    assert parse("Patient", "name=").criteria == ()


def test_count__defaults_caps_and_rejects_nonsense() -> None:
    assert parse("Patient", "").count == 20
    assert parse("Patient", "_count=5000").count == 100
    assert bad("Patient", "_count=-1").issues[0].expression == ("_count",)
    assert bad("Patient", "_count=ten").issues[0].expression == ("_count",)


def test_sort__reads_several_keys_and_directions() -> None:
    query = parse("Observation", "_sort=-date,_id,code")
    assert [(k.code, k.kind, k.descending) for k in query.sort] == [
        ("date", "date", True), ("_id", "_id", False), ("code", "token", False)]
    assert bad("Patient", "_sort=shoe-size", strict=True).issues[0].expression == ("_sort",)


def test_include__reads_every_form() -> None:
    query = parse("Observation", "_include=Observation:subject:Patient&_include:iterate=Patient:organization"
                  "&_revinclude=Provenance:target&_include=*")
    assert [(i.source_type, i.code, i.target_type, i.iterate) for i in query.includes] == [
        ("Observation", "subject", "Patient", False), ("Patient", "organization", None, True),
        (None, None, None, False)]
    assert query.revincludes[0].code == "target"


@pytest.mark.parametrize("raw", ["Observation", "Observation:status", "Nonsense:subject", "Observation:subject:X"])
def test_include__malformed_is_an_error(raw: str) -> None:
    assert bad("Observation", f"_include={raw}").issues[0].expression == ("_include",)


def test_summary_and_total__are_checked_and_count_means_only_a_total() -> None:
    assert bad("Patient", "_summary=short").issues[0].expression == ("_summary",)
    assert bad("Patient", "_total=some").issues[0].expression == ("_total",)
    query = parse("Patient", "_summary=count")
    assert (query.count, query.total) == (0, "accurate")
    assert parse("Patient", "").total == "auto"


def test_elements__are_collected_and_dropped_with_a_warning_beside_summary() -> None:
    assert parse("Patient", "_elements=name,birthDate").elements == ("name", "birthDate")
    query = parse("Patient", "_elements=name&_summary=true")
    assert query.elements is None and query.warnings


def test_link_params__rebuild_the_query_without_unknowns_and_with_the_cursor() -> None:
    query = parse("Patient", "name=x&bogus=1&_sort=-_lastUpdated&_count=5")
    assert query.link_params(None) == [("name", "x"), ("_sort", "-_lastUpdated"), ("_count", "5")]
    assert query.link_params("abc")[-1] == ("_cursor", "abc")


def test_cursor__from_another_order_or_garbled_is_an_error() -> None:
    other = encode_cursor("-_id", True, ["x"], 1)
    assert bad("Patient", f"_sort=_id&_cursor={other}").issues[0].expression == ("_cursor",)
    assert bad("Patient", "_cursor=!!!").issues[0].expression == ("_cursor",)
    good = encode_cursor("_id", True, ["x"], 7)
    cursor = parse("Patient", f"_sort=_id&_cursor={good}").cursor
    assert cursor is not None and (cursor.keys, cursor.rid, cursor.forward) == (("x",), 7, True)


def test_system_search__with_type_limits_types_and_parameters() -> None:
    query = parse(None, "_type=Patient,Practitioner&name=x")
    assert query.types == ("Patient", "Practitioner") and query.criteria[0].code == "name"
    assert bad(None, "_type=Nonsense").issues[0].expression == ("_type",)
    assert parse(None, "name=x").criteria == ()
