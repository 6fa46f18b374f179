"""Property tests over every protocol: any sequence of answers ends in time, with one disposition,
and a red flag answered yes never ends anywhere but in emergency care."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.catalog import Catalog, load_catalog
from triage.conditions import AgeAtom, AllOf, AtLeast, Condition, Facts, FindingAtom, Value
from triage.decision import MAX_QUESTIONS, build_facts
from triage.dispositions import DISPOSITIONS, is_emergency
from triage.engine import next_question
from triage.reachability import reserved_answers, simulate
from triage.vocabulary import FINDING_SYSTEM

CATALOG: Catalog = load_catalog()
COMPLAINTS = sorted(CATALOG.protocols)
AGES_IN_MONTHS = [1.0, 2.0, 5.0, 11.0, 20.0, 40.0, 84.0, 150.0, 300.0, 500.0, 800.0, 1000.0]


def _sufficient(condition: Condition, facts: Facts) -> set[str]:
    """Return the yes/no findings that alone make `condition` true for this patient, whatever else is answered."""
    if isinstance(condition, FindingAtom):
        return {condition.code} if condition.op == "is" and condition.operand is True else set()
    if isinstance(condition, AtLeast) and condition.count == 1:
        return set().union(*(_sufficient(part, facts) for part in condition.parts))
    if isinstance(condition, AllOf):
        # true when every other part is about this patient's age or sex and holds
        about_patient = [
            p
            for p in condition.parts
            if isinstance(p, AgeAtom) or (isinstance(p, FindingAtom) and p.code == "sex")
        ]
        rest = [p for p in condition.parts if p not in about_patient]
        if len(rest) == 1 and all(p.evaluate(facts, final=True) is True for p in about_patient):
            return _sufficient(rest[0], facts)
    return set()


@cache
def sole_red_flags(complaint: str, months: float, sex: str) -> frozenset[str]:
    """Return the yes/no findings that on their own make an emergency rule true for this patient."""
    protocol = CATALOG.protocol(complaint)
    facts = build_facts(reserved_answers(months, sex), [], protocol, CATALOG.derivations)
    flags: set[str] = set()
    for rule in protocol.rules:
        if is_emergency(rule.disposition) and rule.condition is not None:
            flags |= _sufficient(rule.condition, facts)
    return frozenset(flags & set(protocol.item_index))


def answer_strategy(code: str) -> st.SearchStrategy[Any]:
    finding = CATALOG.vocabulary.get(code)
    if finding.type == "boolean":
        # mostly "no", as in real cases, so paths go deep into the protocols
        return st.sampled_from([False, False, False, True])
    if finding.type == "choice":
        return st.one_of(st.none(), st.sampled_from(sorted(finding.option_codes())))
    low = int(finding.min or 0)
    high = int(finding.max if finding.max is not None else 60)
    if finding.type == "integer":
        return st.one_of(st.none(), st.integers(low, high))
    return st.one_of(st.none(), st.floats(low, high, allow_nan=False).map(lambda x: round(x, 1)))


@settings(max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    complaint=st.sampled_from(COMPLAINTS),
    months=st.sampled_from(AGES_IN_MONTHS),
    sex=st.sampled_from(["female", "male"]),
    data=st.data(),
)
def test_paths__every_path_ends_within_30_questions_with_one_disposition(
    complaint: str, months: float, sex: str, data: st.DataObject
) -> None:
    protocol = CATALOG.protocol(complaint)
    reserved = reserved_answers(months, sex)
    given_answers: dict[str, Value | None] = {}

    def answer(code: str) -> Value | None:
        value: Value | None = data.draw(answer_strategy(code), label=code)
        given_answers[code] = value
        return value

    outcome = simulate(protocol, CATALOG.derivations, reserved, answer)
    # settled by the rules, not cut off by the limit: the limit is a safety net, not the design
    assert len(reserved) + 1 + len(outcome.asked) < MAX_QUESTIONS
    assert len(set(outcome.asked)) == len(outcome.asked), "a question was asked twice"
    assert outcome.assessment.disposition in DISPOSITIONS
    assert outcome.assessment.decisive in outcome.assessment.fired
    yes = {code for code, value in given_answers.items() if value is True}
    flagged = yes & sole_red_flags(complaint, months, sex)
    if flagged:
        assert is_emergency(outcome.assessment.disposition), (
            f"red flag {sorted(flagged)} ended in {outcome.assessment.disposition}"
        )
    universal = yes & universal_red_flags(months, sex)
    if universal:
        assert is_emergency(outcome.assessment.disposition), (
            f"universal red flag {sorted(universal)} was not an emergency"
        )
    if flagged or universal:
        assert outcome.assessment.disposition != "self-care"


@cache
def universal_red_flags(months: float, sex: str) -> frozenset[str]:
    """Return the findings that are a red flag in every protocol that asks them (e.g. blue lips)."""
    asked_in: dict[str, list[str]] = {}
    for complaint in COMPLAINTS:
        for code in CATALOG.protocol(complaint).item_index:
            asked_in.setdefault(code, []).append(complaint)
    return frozenset(
        code
        for code, complaints in asked_in.items()
        if all(code in sole_red_flags(c, months, sex) for c in complaints)
    )


def test_paths__universal_red_flags_include_the_classic_ones() -> None:
    adult = universal_red_flags(360.0, "female")
    assert {
        "blue-lips-or-face",
        "unusually-drowsy-or-hard-to-wake",
        "face-drooping",
        "swelling-of-tongue-or-throat",
        "drooling-or-cannot-swallow-saliva",
        "mottled-or-grey-skin",
    } <= adult


@settings(max_examples=60, deadline=None, database=None)
@given(complaint=st.sampled_from(COMPLAINTS), months=st.sampled_from(AGES_IN_MONTHS), data=st.data())
def test_paths__fhir_round_trip_completes_with_exactly_one_disposition(
    complaint: str, months: float, data: st.DataObject
) -> None:
    reserved = reserved_answers(months, "female")
    response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}
    for _ in range(MAX_QUESTIONS + 2):
        response = next_question(response, catalog=CATALOG)
        if response["status"] == "completed":
            break
        questionnaire = next(c for c in response["contained"] if c["resourceType"] == "Questionnaire")
        done = {i["linkId"] for i in response["item"]}
        for question in questionnaire["item"]:
            code = question["linkId"]
            if code in done:
                continue
            if code == "chief-complaint":
                value: Any = {"valueCoding": {"system": FINDING_SYSTEM, "code": complaint}}
            elif code == "sex":
                value = {"valueCoding": {"system": FINDING_SYSTEM, "code": "female"}}
            elif code in reserved:
                value = {"valueInteger": reserved[code]}
            else:
                drawn = data.draw(answer_strategy(code), label=code)
                kind = question["type"]
                value = (
                    None
                    if drawn is None
                    else (
                        {"valueCoding": {"system": FINDING_SYSTEM, "code": drawn}}
                        if kind == "choice"
                        else {f"value{kind.capitalize()}": drawn}
                    )
                )
            response["item"].append({"linkId": code, **({"answer": [value]} if value is not None else {})})
    assert response["status"] == "completed"
    assert len(response["item"]) <= MAX_QUESTIONS
    codings = [e for e in response["extension"][0]["extension"] if e["url"] == "disposition"]
    assert len(codings) == 1 and codings[0]["valueCoding"]["code"] in DISPOSITIONS
