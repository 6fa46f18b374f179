"""Prove that every rule of a protocol can fire, by finding answers that make the engine pick it.

A rule that no sequence of answers can reach is dead clinical logic: it reads as a safeguard
but never acts. For each rule we search (depth first, three-valued pruning) for answers that
make it true while every more urgent rule stays false, then drive the real engine with those
answers and check that the rule decides the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from triage.conditions import AgeAtom, AllOf, AtLeast, Condition, FindingAtom, Not, Value
from triage.decision import MAX_QUESTIONS, Assessment, Derivation, assess, build_facts, next_code
from triage.dispositions import is_emergency
from triage.errors import ProtocolError
from triage.protocol import EnableWhen, Protocol, Rule
from triage.vocabulary import Vocabulary

AGE_CANDIDATES: Final = (360.0, 840.0, 96.0, 18.0, 4.0, 1.0, 30.0, 60.0, 160.0, 600.0)
NODE_LIMIT: Final = 200  # per age and sex tried
Answerer = Callable[[str], "Value | None"]


@dataclass(frozen=True)
class Outcome:
    """What a simulated session ended with."""

    assessment: Assessment
    asked: tuple[str, ...]


def reserved_answers(age_months: float, sex: str) -> dict[str, Value]:
    """Return the reserved answers for an age in months, as a citizen would give them."""
    years = int(age_months // 12)
    answers: dict[str, Value] = {"age-years": years, "sex": sex}
    if years < 2:
        answers["age-months"] = int(age_months)
    return answers


def simulate(
    protocol: Protocol, derivations: Sequence[Derivation], reserved: dict[str, Value], answer: Answerer
) -> Outcome:
    """Run one whole session through the decision core; `answer` returns None for don't know."""
    answers: dict[str, Value] = dict(reserved)
    dont_know: set[str] = set()
    asked: list[str] = []
    reserved_count = len(reserved) + 1  # the chief complaint is asked too
    while True:
        facts = build_facts(answers, dont_know, protocol, derivations)
        code = next_code(protocol, facts, reserved_count + len(asked))
        if code is None:
            return Outcome(assess(protocol, facts), tuple(asked))
        asked.append(code)
        value = answer(code)
        if value is None:
            dont_know.add(code)
        else:
            answers[code] = value


def _atoms(condition: Condition) -> Iterator[FindingAtom | AgeAtom]:
    if isinstance(condition, (FindingAtom, AgeAtom)):
        yield condition
    elif isinstance(condition, (AllOf, AtLeast)):
        for part in condition.parts:
            yield from _atoms(part)
    elif isinstance(condition, Not):
        yield from _atoms(condition.part)


class RuleSearch:
    """Search answers that make one rule decide a protocol's outcome."""

    def __init__(self, protocol: Protocol, vocabulary: Vocabulary, derivations: Sequence[Derivation]) -> None:
        self.protocol = protocol
        self.vocabulary = vocabulary
        self.derivations = derivations
        self.wanted: set[str] = set()
        self.preferred: dict[str, bool] = {}
        self.gate_clauses: list[EnableWhen] = []

    def _domain(self, code: str, atoms: list[FindingAtom | AgeAtom], wanted: bool) -> list[Value | None]:
        finding = self.vocabulary.get(code)
        if finding.type == "boolean":
            if code in self.preferred:
                return [self.preferred[code], not self.preferred[code]]
            return [True, False] if wanted else [False, True]
        if finding.type == "choice":
            return [*(o.code for o in finding.options), None]
        step = 1.0 if finding.type == "integer" else 0.5
        points: list[Value | None] = []
        for atom in atoms:
            if isinstance(atom, FindingAtom) and atom.code == code and isinstance(atom.operand, (int, float)):
                for value in (atom.operand - step, atom.operand, atom.operand + step):
                    low = finding.min if finding.min is not None else 0
                    high = finding.max if finding.max is not None else 10_000
                    value = min(max(value, low), high)
                    points.append(int(value) if finding.type == "integer" else float(value))
        return [*dict.fromkeys(points), None]

    def find(self, rule: Rule) -> Outcome | None:
        """Return a simulated session in which `rule` decides, or None if none was found."""
        assert rule.condition is not None
        blockers = [
            r
            for r in self.protocol.rules
            if r is not rule
            and (r.rank < rule.rank or (is_emergency(r.disposition) and is_emergency(rule.disposition)))
        ]
        atoms = list(_atoms(rule.condition))
        blocker_atoms = [a for r in blockers if r.condition is not None for a in _atoms(r.condition)]
        own = list(dict.fromkeys(a.code for a in atoms if isinstance(a, FindingAtom)))
        self.gate_clauses = [
            c
            for code in own
            if code in self.protocol.item_index
            for c in self.protocol.items[self.protocol.item_index[code]].enable_when
        ]
        clauses = [c for c in self.gate_clauses if c.question in self.protocol.item_index]
        gates = [c.question for c in clauses]
        # try first the answer that opens the gate
        self.preferred = {
            c.question: c.answer for c in clauses if c.operator == "=" and isinstance(c.answer, bool)
        }
        self.wanted = {*own, *gates}
        # rules as urgent as this one can settle the case first; their answers are tried next
        rivals = [
            a.code
            for r in self.protocol.rules
            if r.rank == rule.rank and r is not rule and r.condition is not None
            for a in _atoms(r.condition)
            if isinstance(a, FindingAtom)
        ]
        codes = list(dict.fromkeys([*gates, *own, *rivals]))
        codes += [
            c
            for c in dict.fromkeys(a.code for a in blocker_atoms if isinstance(a, FindingAtom))
            if c not in codes
        ]
        codes = [c for c in codes if c != "sex" and c not in self.protocol.implies]
        own_ages = [m for a in atoms if isinstance(a, AgeAtom) for m in (max(a.months - 1, 0.0), a.months)]
        other_ages = [
            m for a in blocker_atoms if isinstance(a, AgeAtom) for m in (max(a.months - 1, 0.0), a.months)
        ]
        ages = list(dict.fromkeys([*own_ages, *AGE_CANDIDATES, *other_ages[:4]]))
        wants_male = any(c.question == "sex" and c.answer == "male" for c in self.gate_clauses) or any(
            isinstance(a, FindingAtom) and a.code == "sex" and a.operand == "male" for a in atoms
        )
        for sex in ("male", "female") if wants_male else ("female", "male"):
            for months in ages:
                reserved = reserved_answers(months, sex)
                found = self._search(
                    rule, blockers, codes, 0, dict(reserved), reserved, atoms + blocker_atoms, [NODE_LIMIT]
                )
                if found is not None:
                    return found
        return None

    def _search(
        self,
        rule: Rule,
        blockers: list[Rule],
        codes: list[str],
        depth: int,
        answers: dict[str, Value],
        reserved: dict[str, Value],
        atoms: list[FindingAtom | AgeAtom],
        budget: list[int],
    ) -> Outcome | None:
        budget[0] -= 1
        if budget[0] <= 0:
            return None
        facts = build_facts(answers, [c for c in codes[:depth] if c not in answers], None, self.derivations)
        facts.values.update(self.protocol.implies)
        assert rule.condition is not None
        state = rule.condition.evaluate(facts, final=False)
        if state is False or any(
            b.condition is not None and b.condition.evaluate(facts, final=False) is True for b in blockers
        ):
            return None
        if state is True:
            # the patient answers every other question "no" or "don't know", like the measuring script
            known = {**facts.values, **answers}
            final = build_facts({k: v for k, v in known.items()}, [], None, self.derivations)
            if any(
                b.condition is not None and b.condition.evaluate(final, final=True) is True for b in blockers
            ):
                if depth == len(codes):
                    return None
            else:
                outcome = simulate(
                    self.protocol,
                    self.derivations,
                    reserved,
                    lambda code: known.get(code, self._absent(code)),
                )
                if rule in outcome.assessment.fired and outcome.assessment.decisive.rank == rule.rank:
                    return outcome
                budget[0] -= 25  # a session costs far more than a node: keep failing searches short
        if depth == len(codes):
            return None
        code = codes[depth]
        for value in self._domain(code, atoms, code in self.wanted):
            trial = dict(answers)
            if value is not None:
                trial[code] = value
            found = self._search(rule, blockers, codes, depth + 1, trial, reserved, atoms, budget)
            if found is not None:
                return found
        return None

    def _absent(self, code: str) -> Value | None:
        # Like the measuring script: an unmentioned yes/no finding is "no", anything else "don't know".
        return False if self.vocabulary.get(code).type == "boolean" else None


def check_reachable(
    protocols: Sequence[Protocol], vocabulary: Vocabulary, derivations: Sequence[Derivation]
) -> None:
    """Raise ProtocolError naming the first rule that no answers can make decide.

    A protocol's own rules must be reachable in that protocol. A shared block's rule must be
    reachable in at least one protocol that includes it: in another, the complaint itself may
    already imply something more urgent (a non-blanching rash is always 112 under "fever").
    """
    searches = {p.complaint: RuleSearch(p, vocabulary, derivations) for p in protocols}
    including: dict[str, list[Protocol]] = {}
    for protocol in protocols:
        for rule in protocol.rules:
            if rule.origin == protocol.source:
                if searches[protocol.complaint].find(rule) is None:
                    raise ProtocolError(
                        rule.origin,
                        f"rule {rule.id!r} is unreachable in protocol {protocol.complaint}: no "
                        f"answers make it decide within {MAX_QUESTIONS} questions (a more urgent rule, "
                        "the question limit or an enableWhen shadows it)",
                    )
            else:
                including.setdefault(rule.id, []).append(protocol)
    for rule_id, hosts in including.items():
        # the host with the fewest rules is the cheapest place to show a shared rule can fire
        for protocol in sorted(hosts, key=lambda p: len(p.rules)):
            rule = next(r for r in protocol.rules if r.id == rule_id)
            if searches[protocol.complaint].find(rule) is not None:
                break
        else:
            raise ProtocolError(
                rule.origin, f"shared rule {rule_id!r} is unreachable in every protocol that includes it"
            )
