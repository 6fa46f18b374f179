"""_summary and _elements: what is kept, and the SUBSETTED tag on whatever was cut."""

from __future__ import annotations

import copy

import orjson

from fhir_api.search import apply_elements, apply_summary, present

PATIENT = {
    "resourceType": "Patient", "id": "p1", "meta": {"versionId": "2", "tag": [{"code": "demo"}]},
    "text": {"status": "generated", "div": "<div>Åsa</div>"},
    "identifier": [{"value": "1"}], "name": [{"family": "Öberg"}], "birthDate": "1912-12-12",
    "_birthDate": {"extension": [{"url": "http://ex/precision"}]},
    "contact": [{"name": {"family": "X"}}], "communication": [{"language": {"text": "sv"}}],
    "deceasedBoolean": False,
}


def tags(resource: dict[str, object]) -> list[str]:
    return [t["code"] for t in resource["meta"]["tag"]]  # type: ignore[index]


def test_summary_true__keeps_summary_elements_id_and_meta_only() -> None:
    out = apply_summary(copy.deepcopy(PATIENT), "true")
    assert set(out) == {"resourceType", "id", "meta", "identifier", "name", "birthDate", "_birthDate",
                        "deceasedBoolean"}
    assert tags(out) == ["demo", "SUBSETTED"]


def test_summary_text__keeps_text_and_mandatory_elements() -> None:
    observation = {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
                   "text": {"div": "<div/>"}, "valueString": "v", "note": [{"text": "n"}]}
    assert set(apply_summary(observation, "text")) == {"resourceType", "id", "meta", "text", "status", "code"}


def test_summary_data__drops_only_the_narrative() -> None:
    out = apply_summary(copy.deepcopy(PATIENT), "data")
    assert "text" not in out and "contact" in out and "SUBSETTED" in tags(out)


def test_summary_false__is_the_whole_resource_untagged() -> None:
    assert apply_summary(copy.deepcopy(PATIENT), "false") == PATIENT


def test_elements__keeps_named_elements_choices_and_extensions_of_primitives() -> None:
    out = apply_elements(copy.deepcopy(PATIENT), ["birthDate", "Patient.deceased"])
    assert set(out) == {"resourceType", "id", "meta", "birthDate", "_birthDate", "deceasedBoolean"}
    assert "SUBSETTED" in tags(out)


def test_elements__adds_the_tag_to_a_resource_without_meta() -> None:
    out = apply_elements({"resourceType": "Basic", "id": "b", "code": {}}, ["code"])
    assert out["meta"] == {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                                    "code": "SUBSETTED", "display": "subsetted"}]}


def test_present__returns_stored_text_untouched_when_nothing_is_asked() -> None:
    text = orjson.dumps(PATIENT).decode()
    assert present(text, None, None) is text
    assert set(orjson.loads(present(text, None, ["name"]))) == {"resourceType", "id", "meta", "name"}
