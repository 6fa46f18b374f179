"""Render an Assessment as the FHIR extension the contract asks for, and read it back.

The extension holds exactly one Coding in the disposition system (so any client can find the
outcome), the decisive rationale in Swedish with an English translation, every rule that
fired with its source, the competence that should see the citizen, and for self-care the
advice: what to do, what to watch for, when to seek care after all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from triage.decision import Assessment
from triage.dispositions import COMPETENCE_SYSTEM, DISPOSITION_INFO, DISPOSITION_SYSTEM
from triage.fhir_io import translated
from triage.protocol import Advice, Text
from triage.vocabulary import FINDING_SYSTEM

ASSESSMENT_URL: Final = "https://ingang.example/fhir/StructureDefinition/triage-assessment"
RULE_SYSTEM: Final = "https://ingang.example/fhir/CodeSystem/triage-rule"


def _text(url: str, text: Text) -> dict[str, Any]:
    return {"url": url, "valueString": text.sv, "_valueString": translated(text.sv, text.en)}


def _advice(advice: Advice) -> dict[str, Any]:
    return {
        "url": "advice",
        "extension": [
            _text("do", advice.do),
            _text("watch-for", advice.watch_for),
            _text("seek-care-if", advice.seek_care_if),
        ],
    }


def assessment_extension(assessment: Assessment) -> dict[str, Any]:
    """Return the complex extension that carries the assessment on a QuestionnaireResponse."""
    info = DISPOSITION_INFO[assessment.disposition]
    decisive = assessment.decisive
    parts: list[dict[str, Any]] = [
        {
            "url": "disposition",
            "valueCoding": {"system": DISPOSITION_SYSTEM, "code": info.code, "display": info.display_sv},
        },
        {"url": "priority", "valueInteger": info.priority},
        {"url": "competence", "valueCoding": {"system": COMPETENCE_SYSTEM, "code": assessment.competence}},
        {"url": "complaint", "valueCoding": {"system": FINDING_SYSTEM, "code": assessment.complaint}},
        _text("rationale", decisive.rationale),
        _text("instruction", Text(info.instruction_sv, info.instruction_en)),
    ]
    for rule in assessment.fired:
        parts.append(
            {
                "url": "rule",
                "extension": [
                    {"url": "id", "valueCoding": {"system": RULE_SYSTEM, "code": rule.id}},
                    {"url": "disposition", "valueCode": rule.disposition},
                    _text("rationale", rule.rationale),
                    {"url": "source", "valueString": rule.source},
                ],
            }
        )
    if decisive.advice is not None:
        parts.append(_advice(decisive.advice))
    return {"url": ASSESSMENT_URL, "extension": parts}


def assessment_summary(assessment: Assessment) -> dict[str, Any]:
    """Return the assessment as a plain dict (for Task.output, logs and the clinician view)."""
    decisive = assessment.decisive
    advice = decisive.advice
    return {
        "disposition": assessment.disposition,
        "priority": DISPOSITION_INFO[assessment.disposition].priority,
        "competence": assessment.competence,
        "complaint": assessment.complaint,
        "rationale": {"sv": decisive.rationale.sv, "en": decisive.rationale.en},
        "rules": [{"id": r.id, "disposition": r.disposition, "source": r.source} for r in assessment.fired],
        "advice": None
        if advice is None
        else {
            key: {"sv": text.sv, "en": text.en}
            for key, text in (
                ("do", advice.do),
                ("watch_for", advice.watch_for),
                ("seek_care_if", advice.seek_care_if),
            )
        },
    }


def _codings(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        if "system" in node and "code" in node:
            yield node
        for value in node.values():
            yield from _codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value)


def read_disposition(response: Mapping[str, Any]) -> str | None:
    """Return the disposition code of a completed response, or None if there is not exactly one."""
    found = [
        c["code"] for c in _codings(response.get("extension", [])) if c.get("system") == DISPOSITION_SYSTEM
    ]
    return str(found[0]) if len(found) == 1 else None
