"""Read answers out of a posted QuestionnaireResponse and render questions back as FHIR items.

Everything that comes from outside is checked here, so the rest of the engine can trust its
input: an unknown linkId, a wrong value type or a value out of range is a `TriageInputError`
with the path to the offending element, never a KeyError deep inside the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from triage.conditions import Value
from triage.errors import TriageInputError
from triage.protocol import EnableWhen, Protocol
from triage.vocabulary import FINDING_SYSTEM, Finding, Vocabulary

QUESTIONNAIRE_ID: Final = "triage"
TRANSLATION_URL: Final = "http://hl7.org/fhir/StructureDefinition/translation"
ADAPTIVE_PROFILE: Final = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-adapt"
ANSWER_KEYS: Final = {
    "boolean": ("valueBoolean",),
    "integer": ("valueInteger", "valueDecimal"),
    "decimal": ("valueDecimal", "valueInteger"),
    "choice": ("valueCoding",),
}


@dataclass
class ParsedResponse:
    """The posted response, with answers by finding code and the questions already asked."""

    resource: dict[str, Any]
    answers: dict[str, Value] = field(default_factory=dict)
    dont_know: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def unwrap(body: Any) -> dict[str, Any]:
    """Return the QuestionnaireResponse from a bare resource or a Parameters wrapper."""
    if not isinstance(body, Mapping):
        raise TriageInputError("the body must be a QuestionnaireResponse or a Parameters resource", "$")
    if body.get("resourceType") == "Parameters":
        for index, parameter in enumerate(body.get("parameter") or []):
            if isinstance(parameter, Mapping) and parameter.get("name") == "questionnaire-response":
                resource = parameter.get("resource")
                if not isinstance(resource, Mapping):
                    raise TriageInputError(
                        "questionnaire-response must carry a resource", f"Parameters.parameter[{index}]"
                    )
                return unwrap(resource)
        raise TriageInputError("Parameters has no `questionnaire-response` parameter", "Parameters.parameter")
    if body.get("resourceType") != "QuestionnaireResponse":
        raise TriageInputError(
            f"expected a QuestionnaireResponse, got {body.get('resourceType')!r}", "resourceType"
        )
    return dict(body)


def _value(finding: Finding, answer: Any, where: str, vocabulary: Vocabulary) -> Value:
    if not isinstance(answer, Mapping):
        raise TriageInputError("an answer must be an object with one value[x]", where)
    keys = [k for k in answer if k.startswith("value")]
    allowed = ANSWER_KEYS[finding.type]
    if len(keys) != 1 or keys[0] not in allowed:
        raise TriageInputError(
            f"{finding.code!r} is a {finding.type} question: answer with {' or '.join(allowed)}", where
        )
    raw = answer[keys[0]]
    where = f"{where}.{keys[0]}"
    if finding.type == "boolean":
        if not isinstance(raw, bool):
            raise TriageInputError("valueBoolean must be true or false", where)
        return raw
    if finding.type == "choice":
        code = raw.get("code") if isinstance(raw, Mapping) else None
        system = raw.get("system", FINDING_SYSTEM) if isinstance(raw, Mapping) else None
        if system != FINDING_SYSTEM or code not in finding.option_codes():
            raise TriageInputError(
                f"{code!r} is not an option of {finding.code!r} in {FINDING_SYSTEM}", where
            )
        return str(code)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TriageInputError(f"{finding.code!r} needs a number", where)
    if keys[0] == "valueInteger" and not isinstance(raw, int):
        raise TriageInputError("valueInteger must be a whole number", where)
    if (finding.min is not None and raw < finding.min) or (finding.max is not None and raw > finding.max):
        raise TriageInputError(f"{raw} is outside {finding.min}–{finding.max} for {finding.code!r}", where)
    return float(raw) if isinstance(raw, float) else int(raw)


def _contained_questions(resource: Mapping[str, Any], vocabulary: Vocabulary) -> list[str]:
    contained = resource.get("contained") or []
    if not isinstance(contained, list):
        raise TriageInputError("contained must be a list", "QuestionnaireResponse.contained")
    asked: list[str] = []
    for c_index, entry in enumerate(contained):
        if not isinstance(entry, Mapping) or entry.get("resourceType") != "Questionnaire":
            continue
        for i_index, item in enumerate(entry.get("item") or []):
            if not isinstance(item, Mapping):
                raise TriageInputError(
                    "a question must be an object",
                    f"QuestionnaireResponse.contained[{c_index}].item[{i_index}]",
                )
            if item.get("type") == "display":
                continue
            link_id = item.get("linkId")
            if not isinstance(link_id, str) or link_id not in vocabulary:
                raise TriageInputError(
                    f"question {link_id!r} is not one the engine asks",
                    f"QuestionnaireResponse.contained[{c_index}].item[{i_index}].linkId",
                )
            asked.append(str(link_id))
    return asked


def parse_response(body: Any, vocabulary: Vocabulary) -> ParsedResponse:
    """Validate a posted response and pull out its answers; TriageInputError on anything wrong."""
    resource = unwrap(body)
    status = resource.get("status")
    if status not in ("in-progress", "completed"):
        raise TriageInputError(
            f"status must be in-progress (or completed), got {status!r}", "QuestionnaireResponse.status"
        )
    parsed = ParsedResponse(resource=resource, asked=_contained_questions(resource, vocabulary))
    raw_items = resource.get("item") or []
    if not isinstance(raw_items, list):
        raise TriageInputError("item must be a list", "QuestionnaireResponse.item")
    for index, item in enumerate(raw_items):
        where = f"QuestionnaireResponse.item[{index}]"
        if not isinstance(item, Mapping):
            raise TriageInputError("an item must be an object", where)
        link_id = item.get("linkId")
        if not isinstance(link_id, str) or link_id not in vocabulary:
            raise TriageInputError(
                f"linkId {link_id!r} is not a question of this questionnaire", f"{where}.linkId"
            )
        if link_id in parsed.answers or link_id in parsed.dont_know:
            raise TriageInputError(f"question {link_id!r} is answered twice", f"{where}.linkId")
        if item.get("item"):
            raise TriageInputError("nested items are not part of this questionnaire", f"{where}.item")
        answers = item.get("answer") or []
        if not isinstance(answers, list) or len(answers) > 1:
            raise TriageInputError("give at most one answer per question", f"{where}.answer")
        if answers:
            parsed.answers[link_id] = _value(
                vocabulary.get(link_id), answers[0], f"{where}.answer[0]", vocabulary
            )
        else:
            parsed.dont_know.add(link_id)
        parsed.items.append({"linkId": link_id, **({"answer": [dict(answers[0])]} if answers else {})})
        if link_id not in parsed.asked:
            parsed.asked.append(link_id)
    complaint = parsed.answers.get("chief-complaint")
    if complaint is not None and complaint not in vocabulary.complaints:
        raise TriageInputError(f"{complaint!r} is not a chief complaint", "QuestionnaireResponse.item")
    for code in parsed.asked:
        if code not in parsed.answers:
            parsed.dont_know.add(code)  # asked and left out: the citizen skipped it, which is "don't know"
    return parsed


def copy_json(value: Any) -> Any:
    """Copy JSON-shaped data (dicts, lists, scalars); several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def translated(text_sv: str, text_en: str) -> dict[str, Any]:
    """Return the `_x` companion that carries the English translation of a Swedish primitive."""
    return {
        "extension": [
            {
                "url": TRANSLATION_URL,
                "extension": [{"url": "lang", "valueCode": "en"}, {"url": "content", "valueString": text_en}],
            }
        ]
    }


def render_item(finding: Finding) -> dict[str, Any]:
    """Render one finding as a Questionnaire item: coded, Swedish text, English translation.

    Rendering is cached per finding; the nested parts (codes, options) are shared between
    responses, so treat them as read-only (serialise, do not edit in place).
    """
    return dict(_rendered(finding))


@lru_cache(maxsize=1024)
def _rendered(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": finding.code,
        "code": [{"system": FINDING_SYSTEM, "code": finding.code, "display": finding.en}],
        "text": finding.sv,
        "_text": translated(finding.sv, finding.en),
        "type": finding.type,
    }
    if finding.type == "choice":
        item["answerOption"] = [
            {"valueCoding": {"system": FINDING_SYSTEM, "code": o.code, "display": o.sv,
                             "_display": translated(o.sv, o.en)}}
            for o in finding.options
        ]
    elif finding.type in ("integer", "decimal"):
        kind = "valueInteger" if finding.type == "integer" else "valueDecimal"
        extensions: list[dict[str, Any]] = []
        for bound, url in ((finding.min, "minValue"), (finding.max, "maxValue")):
            if bound is not None:
                number = int(bound) if finding.type == "integer" else float(bound)
                extensions.append({"url": f"http://hl7.org/fhir/StructureDefinition/{url}", kind: number})
        if finding.unit:
            extensions.append(
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                    "valueCoding": {"system": "http://unitsofmeasure.org", "code": finding.unit},
                }
            )
        if extensions:
            item["extension"] = extensions
    return item


def render_questionnaire(codes: list[str], vocabulary: Vocabulary) -> dict[str, Any]:
    """Render the contained adaptive Questionnaire holding every question asked so far."""
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "meta": {"profile": [ADAPTIVE_PROFILE]},
        "status": "active",
        "title": "Ingång symptombedömning",
        "item": [render_item(vocabulary.get(code)) for code in codes],
    }


def _enable_when(clause: EnableWhen, vocabulary: Vocabulary) -> dict[str, Any]:
    if clause.operator == "exists":
        return {"question": clause.question, "operator": "exists", "answerBoolean": bool(clause.answer)}
    kind = vocabulary.get(clause.question).type
    if kind == "choice":
        return {
            "question": clause.question,
            "operator": clause.operator,
            "answerCoding": {"system": FINDING_SYSTEM, "code": clause.answer},
        }
    key = {"boolean": "answerBoolean", "integer": "answerInteger", "decimal": "answerDecimal"}[kind]
    return {"question": clause.question, "operator": clause.operator, key: clause.answer}


def protocol_questionnaire(protocol: Protocol, vocabulary: Vocabulary) -> dict[str, Any]:
    """Render a whole protocol as a static FHIR R4 Questionnaire (for GET /Questionnaire/{id}).

    The adaptive engine asks a subset of these items; this is the full form with its branching,
    for clinicians to review and for clients that want to show the complete protocol.
    """
    items = []
    for item in protocol.items:
        rendered = render_item(vocabulary.get(item.code))
        if item.enable_when:
            rendered["enableWhen"] = [_enable_when(c, vocabulary) for c in item.enable_when]
            if len(item.enable_when) > 1:
                rendered["enableBehavior"] = item.enable_behavior
        items.append(rendered)
    return {
        "resourceType": "Questionnaire",
        "id": protocol.complaint,
        "url": f"https://ingang.example/fhir/Questionnaire/{protocol.complaint}",
        "status": "active",
        "title": protocol.title.sv,
        "_title": translated(protocol.title.sv, protocol.title.en),
        "code": [{"system": FINDING_SYSTEM, "code": protocol.complaint}],
        "item": [render_item(vocabulary.get(code)) for code in ("age-years", "age-months", "sex")] + items,
    }
