"""Decide, from what is known, the next question to ask or that the assessment is settled.

This is the engine without FHIR: `Facts` in, a finding code or an `Assessment` out. The HTTP
operation and the reachability check both drive it, so what the validator proves about a
protocol is what a citizen gets. The rule: ask, in protocol order, only a question that sits in
a rule more urgent than the best rule already true; stop when there is none, or at once when
an emergency rule is true.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from triage.conditions import Condition, Facts, Value
from triage.dispositions import is_emergency
from triage.protocol import EnableWhen, Item, Protocol, Rule

MAX_QUESTIONS: Final = (
    30  # the contract counts a case above 60 as failed; we promise 30, reserved items included
)


@dataclass(frozen=True)
class Derivation:
    """Set a finding true when a more specific answer implies it (e.g. 38.5 °C implies fever)."""

    code: str
    condition: Condition


@dataclass(frozen=True)
class Assessment:
    """The outcome: one disposition, the rule that decided it and every rule that fired."""

    complaint: str
    decisive: Rule
    fired: tuple[Rule, ...]

    @property
    def disposition(self) -> str:
        """Return the disposition code."""
        return self.decisive.disposition

    @property
    def competence(self) -> str:
        """Return the competence that should see the citizen."""
        return self.decisive.competence


def age_interval(years: float | None, months: float | None) -> tuple[float, float] | None:
    """Return the age in months as an interval, so an integer age under 2 stays honest."""
    if years is None:
        return None
    if years < 2 and months is not None:
        # "1 year and 6 months" is sometimes given as months past the birthday: read it as 18
        total = months + 12 * int(years) if months < 12 * int(years) else months
        return (float(total), float(total))
    if float(years).is_integer():
        return (years * 12.0, years * 12.0 + 11.99)
    return (years * 12.0, years * 12.0)


def build_facts(
    answers: Mapping[str, Value],
    dont_know: Iterable[str],
    protocol: Protocol | None,
    derivations: Iterable[Derivation],
) -> Facts:
    """Combine answers, the complaint's implied findings and derivations into Facts."""
    values: dict[str, Value] = dict(protocol.implies) if protocol else {}
    values.update(answers)
    unknown = {code for code in dont_know if code not in values}
    years = answers.get("age-years")
    months = answers.get("age-months")
    facts = Facts(values=values, unknown=unknown)
    if isinstance(years, (int, float)) and not isinstance(years, bool):
        month_value = (
            float(months) if isinstance(months, (int, float)) and not isinstance(months, bool) else None
        )
        interval = age_interval(float(years), month_value)
        facts.age_months = interval
        facts.age_settled = True
    elif "age-years" in unknown:
        facts.age_settled = True
    for derivation in derivations:
        if (
            facts.values.get(derivation.code) is not True
            and derivation.condition.evaluate(facts, final=False) is True
        ):
            facts.values[derivation.code] = True
            facts.unknown.discard(derivation.code)
    return facts


def _clause_holds(clause: EnableWhen, facts: Facts) -> bool:
    value = facts.values.get(clause.question)
    if clause.operator == "exists":
        return (value is not None) == bool(clause.answer)
    if value is None:
        return False
    if clause.operator == "=":
        return value == clause.answer
    if clause.operator == "!=":
        return value != clause.answer
    if isinstance(value, (bool, str)) or isinstance(clause.answer, (bool, str)):
        return False
    left, right = float(value), float(clause.answer)
    return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[clause.operator]


def is_enabled(item: Item, facts: Facts) -> bool:
    """Evaluate the item's enableWhen clauses the FHIR way (all or any)."""
    if not item.enable_when:
        return True
    results = (_clause_holds(clause, facts) for clause in item.enable_when)
    return all(results) if item.enable_behavior == "all" else any(results)


def floor_rule(protocol: Protocol, facts: Facts) -> Rule:
    """Return the most urgent rule already true (or the default), trusting only what is known."""
    for rule in protocol.rules:
        assert rule.condition is not None
        if rule.condition.evaluate(facts, final=False) is True:
            return rule
    return protocol.default


def next_code(protocol: Protocol, facts: Facts, asked: int) -> str | None:
    """Return the next finding code to ask, or None when the disposition is settled."""
    if asked >= MAX_QUESTIONS:
        return None
    floor = floor_rule(protocol, facts)
    if is_emergency(floor.disposition):
        return None
    best: tuple[int, int] | None = None
    choice: str | None = None
    for rule in protocol.rules:
        # a rule as urgent as the default still counts: it may carry more specific advice
        settled = rule.rank > floor.rank or (rule.rank == floor.rank and floor is not protocol.default)
        if settled or (best is not None and max(rule.rank, 1) > best[0]):
            break  # rules are sorted by urgency: less urgent ones cannot change the outcome now
        assert rule.condition is not None
        if rule.condition.evaluate(facts, final=False) is not None:
            continue
        for code in rule.condition.open_codes(facts):
            position = protocol.item_index.get(code)
            if position is None:
                continue
            key = (max(rule.rank, 1), position)  # both emergencies end the questions: one group
            if best is not None and key >= best:
                continue
            askable = _askable(protocol, facts, code, depth=0)
            if askable is not None:
                best, choice = key, askable
    return choice


def _askable(protocol: Protocol, facts: Facts, code: str, depth: int) -> str | None:
    """Return `code` if its question is enabled, else an unasked question that could enable it."""
    position = protocol.item_index.get(code)
    if position is None or code in facts.values or code in facts.unknown:
        return None
    item = protocol.items[position]
    if is_enabled(item, facts):
        return code
    if depth >= 3:
        return None
    # the question is gated by another one nobody asked yet: ask the gate first
    for clause in item.enable_when:
        gate = _askable(protocol, facts, clause.question, depth + 1)
        if gate is not None:
            return gate
    return None


def assess(protocol: Protocol, facts: Facts) -> Assessment:
    """Settle the disposition: unasked questions count as absent, don't-knows by their policy."""
    fired = []
    for rule in protocol.rules:
        assert rule.condition is not None
        if rule.condition.evaluate(facts, final=True) is True:
            fired.append(rule)
    decisive = fired[0] if fired else protocol.default
    return Assessment(protocol.complaint, decisive, tuple(fired) if fired else (protocol.default,))
