"""A protocol that is wrong must not load, and the error must say which file and why."""

from __future__ import annotations

from importlib import resources

import pytest

from triage.catalog import _walk, build_catalog
from triage.errors import ProtocolError

TINY = """
protocol: complaint-nosebleed
title: {sv: Näsblod, en: Nosebleed}
source: "1177: Näsblod"
implies: [nosebleed]
items: [nosebleed-will-not-stop, felt-faint]
rules:
  - id: tiny-not-stopping
    when: nosebleed-will-not-stop
    disposition: emergency-department
    rationale: {sv: "Blöder.", en: "Bleeds."}
  - id: tiny-faint
    when: felt-faint
    disposition: urgent
    rationale: {sv: "Svimfärdig.", en: "Faint."}
default:
  disposition: self-care
  rationale: {sv: "Går över.", en: "Passes."}
  advice:
    do: {sv: "Tryck.", en: "Press."}
    watch_for: {sv: "Blödning.", en: "Bleeding."}
    seek_care_if: {sv: "Om det blöder.", en: "If it bleeds."}
"""


def shared_documents() -> list[tuple[str, str]]:
    return [
        (name, text)
        for name, text in _walk(resources.files("triage.protocols"), "protocols/")
        if "/blocks/" in name or name.endswith("derived.yaml")
    ]


def build(text: str) -> None:
    build_catalog([*shared_documents(), ("protocols/tiny.yaml", text)], require_all_complaints=False)


def test_protocol__tiny_valid_protocol_loads() -> None:
    catalog = build_catalog(
        [*shared_documents(), ("protocols/tiny.yaml", TINY)], require_all_complaints=False
    )
    assert set(catalog.protocols) == {"complaint-nosebleed"}


def test_protocol__unknown_code_in_rule_is_refused() -> None:
    with pytest.raises(
        ProtocolError, match=r"tiny.yaml.*nosebleed-wont-stop.*not in the findings vocabulary"
    ):
        build(TINY.replace("when: nosebleed-will-not-stop", "when: nosebleed-wont-stop"))


def test_protocol__unknown_code_in_question_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"tiny.yaml.*question code 'bleeding-lots'"):
        build(
            TINY.replace(
                "items: [nosebleed-will-not-stop, felt-faint]",
                "items: [nosebleed-will-not-stop, felt-faint, bleeding-lots]",
            )
        )


def test_protocol__question_without_code_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"tiny.yaml.*question without a code"):
        build(
            TINY.replace(
                "items: [nosebleed-will-not-stop, felt-faint]",
                "items: [nosebleed-will-not-stop, felt-faint, {text: Hur mår du?}]",
            )
        )


def test_protocol__unreachable_rule_is_refused() -> None:
    # felt-faint already decides emergency-department above, so this urgent rule can never decide
    shadowed = TINY.replace(
        "when: felt-faint\n    disposition: urgent", "when: nosebleed-will-not-stop\n    disposition: urgent"
    )
    with pytest.raises(ProtocolError, match=r"tiny.yaml.*'tiny-faint' is unreachable"):
        build(shadowed)


def test_protocol__rule_on_a_finding_no_question_asks_is_refused() -> None:
    with pytest.raises(ProtocolError, match="'tiny-faint' uses \\['chest-pain'\\], which no item"):
        build(TINY.replace("when: felt-faint", "when: chest-pain"))


def test_protocol__invalid_disposition_is_refused() -> None:
    with pytest.raises(ProtocolError, match="invalid disposition 'soon'"):
        build(TINY.replace("disposition: urgent", "disposition: soon"))


def test_protocol__rule_without_named_source_is_refused() -> None:
    with pytest.raises(ProtocolError, match="must name its source"):
        build(TINY.replace('source: "1177: Näsblod"', 'source: "my own idea"'))


def test_protocol__self_care_without_advice_is_refused() -> None:
    text = TINY[: TINY.index("  advice:")]
    with pytest.raises(ProtocolError, match="needs advice"):
        build(text)


def test_protocol__choice_condition_with_unknown_option_is_refused() -> None:
    with pytest.raises(ProtocolError, match="options are"):
        build(TINY.replace("when: felt-faint", "when: {finding: symptom-onset, is: slowly}"))


def test_protocol__unknown_block_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown block 'rf-nothing'"):
        build(
            TINY.replace(
                "items: [nosebleed-will-not-stop, felt-faint]",
                "items: [{include: rf-nothing}, nosebleed-will-not-stop, felt-faint]",
            )
        )


def test_protocol__enable_when_on_a_question_not_in_the_protocol_is_refused() -> None:
    gated = TINY.replace(
        "items: [nosebleed-will-not-stop, felt-faint]",
        "items: [nosebleed-will-not-stop, {code: felt-faint, enableWhen: [{question: fever, operator: '=', answerBoolean: true}]}]",
    )
    with pytest.raises(ProtocolError, match="enableWhen on 'fever', which is not an item"):
        build(gated)


def test_protocol__missing_complaint_coverage_is_refused() -> None:
    with pytest.raises(ProtocolError, match="no protocol for the chief complaints"):
        build_catalog([*shared_documents(), ("protocols/tiny.yaml", TINY)])


def test_protocol__shipped_catalog_covers_all_49_complaints(catalog) -> None:  # type: ignore[no-untyped-def]
    assert len(catalog.vocabulary.complaints) == 49
    assert set(catalog.protocols) == set(catalog.vocabulary.complaints)
