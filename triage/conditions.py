"""Compile rule conditions from protocol data and evaluate them in three-valued logic.

A condition is True, False or None ("not known yet"). None is what lets the engine ask only
questions that can still change the disposition: a rule whose condition is None has open
questions; one that is True or False is settled. A "don't know" answer settles an atom by its
`if_unknown` policy (default: the worrying value is *not* assumed), and so does the final
assessment for questions that were never asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from triage.errors import ProtocolError
from triage.vocabulary import Vocabulary

Value = bool | int | float | str
Tri = bool | None
COMPARISONS = ("gte", "gt", "lte", "lt")


@dataclass
class Facts:
    """What is known about the case: answers, implied and derived findings, don't-knows, age."""

    values: dict[str, Value] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    age_months: tuple[float, float] | None = None
    age_settled: bool = False


class Condition(Protocol):
    """A compiled condition node."""

    def evaluate(self, facts: Facts, final: bool) -> Tri: ...
    def open_codes(self, facts: Facts) -> Iterator[str]: ...
    def codes(self) -> Iterator[str]: ...


def _compare(op: str, left: float, right: float) -> bool:
    if op == "gte":
        return left >= right
    if op == "gt":
        return left > right
    if op == "lte":
        return left <= right
    return left < right


@dataclass(frozen=True, slots=True)
class FindingAtom:
    """Test one finding: boolean true/false, a choice value, or a numeric comparison."""

    code: str
    op: str
    operand: Any
    if_unknown: bool = False

    def evaluate(self, facts: Facts, final: bool) -> Tri:
        value = facts.values.get(self.code)
        if value is None:
            if final or self.code in facts.unknown:
                return self.if_unknown
            return None
        if self.op == "is":
            return bool(value == self.operand)
        if self.op == "in":
            return bool(value in self.operand)
        if isinstance(value, (bool, str)):
            return False
        return _compare(self.op, float(value), float(self.operand))

    def open_codes(self, facts: Facts) -> Iterator[str]:
        if self.evaluate(facts, final=False) is None:
            yield self.code

    def codes(self) -> Iterator[str]:
        yield self.code


@dataclass(frozen=True, slots=True)
class AgeAtom:
    """Compare the age in months with a threshold; an uncertain age falls back on `if_unknown`."""

    op: str
    months: float
    if_unknown: bool = False

    def evaluate(self, facts: Facts, final: bool) -> Tri:
        if facts.age_months is None:
            return self.if_unknown if (final or facts.age_settled) else None
        low, high = facts.age_months
        at_low, at_high = _compare(self.op, low, self.months), _compare(self.op, high, self.months)
        if at_low == at_high:
            return at_low
        return self.if_unknown if (final or facts.age_settled) else None

    def open_codes(self, facts: Facts) -> Iterator[str]:
        if self.evaluate(facts, final=False) is None:
            yield "age-years"
            yield "age-months"

    def codes(self) -> Iterator[str]:
        yield "age-years"


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every part is true; False as soon as one is false."""

    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts, final: bool) -> Tri:
        result: Tri = True
        for part in self.parts:
            value = part.evaluate(facts, final)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    def open_codes(self, facts: Facts) -> Iterator[str]:
        if self.evaluate(facts, final=False) is None:
            for part in self.parts:
                yield from part.open_codes(facts)

    def codes(self) -> Iterator[str]:
        for part in self.parts:
            yield from part.codes()


@dataclass(frozen=True, slots=True)
class AtLeast:
    """True when at least `count` parts are true (`any` is at_least 1)."""

    count: int
    parts: tuple[Condition, ...]

    def evaluate(self, facts: Facts, final: bool) -> Tri:
        true = unknown = 0
        for part in self.parts:
            value = part.evaluate(facts, final)
            if value is True:
                true += 1
                if true >= self.count:
                    return True
            elif value is None:
                unknown += 1
        return None if true + unknown >= self.count else False

    def open_codes(self, facts: Facts) -> Iterator[str]:
        if self.evaluate(facts, final=False) is None:
            for part in self.parts:
                yield from part.open_codes(facts)

    def codes(self) -> Iterator[str]:
        for part in self.parts:
            yield from part.codes()


@dataclass(frozen=True, slots=True)
class Not:
    """Negate a condition; None stays None."""

    part: Condition

    def evaluate(self, facts: Facts, final: bool) -> Tri:
        value = self.part.evaluate(facts, final)
        return None if value is None else not value

    def open_codes(self, facts: Facts) -> Iterator[str]:
        yield from self.part.open_codes(facts)

    def codes(self) -> Iterator[str]:
        yield from self.part.codes()


class ConditionCompiler:
    """Turn condition data (strings and small dicts) into Condition trees, checking every code."""

    def __init__(
        self, vocabulary: Vocabulary, source: str, expansions: Mapping[str, Sequence[Any]] | None = None
    ) -> None:
        self.vocabulary = vocabulary
        self.source = source
        # "fever" also means "highest temperature of 38 °C or more": a citizen (or a vignette)
        # may give the number without ticking the word, and a red flag must not hang on the word
        self.expansions = expansions or {}

    def fail(self, reason: str) -> ProtocolError:
        """Build the error for this protocol file."""
        return ProtocolError(self.source, reason)

    def compile(self, raw: Any) -> Condition:
        """Compile one condition; raise ProtocolError naming the file and the bad part."""
        if isinstance(raw, str):
            return self._expanded(self._finding({"finding": raw, "is": True}))
        if not isinstance(raw, dict):
            raise self.fail(f"a condition must be a code or a mapping, got {raw!r}")
        if "all" in raw:
            return AllOf(tuple(self.compile(p) for p in self._list(raw, "all")))
        if "any" in raw:
            return AtLeast(1, tuple(self.compile(p) for p in self._list(raw, "any")))
        if "at_least" in raw:
            parts = tuple(self.compile(p) for p in self._list(raw, "of"))
            count = raw["at_least"]
            if not isinstance(count, int) or not 1 <= count <= len(parts):
                raise self.fail(f"at_least must be between 1 and {len(parts)}, got {count!r}")
            return AtLeast(count, parts)
        if "not" in raw:
            return Not(self.compile(raw["not"]))
        if "finding" in raw:
            return self._expanded(self._finding(raw))
        if "age_years" in raw or "age_months" in raw:
            return self._age(raw)
        if "sex" in raw:
            return self._finding({"finding": "sex", "is": raw["sex"]})
        raise self.fail(f"unknown condition {raw!r}")

    def _expanded(self, atom: FindingAtom) -> Condition:
        alternatives = self.expansions.get(atom.code) if atom.op == "is" and atom.operand is True else None
        if not alternatives:
            return atom
        plain = ConditionCompiler(self.vocabulary, self.source)
        return AtLeast(1, (atom, *(plain.compile(alternative) for alternative in alternatives)))

    def _list(self, raw: dict[str, Any], key: str) -> list[Any]:
        parts = raw.get(key)
        if not isinstance(parts, list) or not parts:
            raise self.fail(f"`{key}` needs a non-empty list in {raw!r}")
        return parts

    def _finding(self, raw: dict[str, Any]) -> FindingAtom:
        code = raw["finding"]
        if code not in self.vocabulary:
            raise self.fail(f"condition uses code {code!r}, which is not in the findings vocabulary")
        finding = self.vocabulary.get(code)
        if_unknown = bool(raw.get("if_unknown", False))
        ops = [op for op in ("is", "in", *COMPARISONS) if op in raw]
        if len(ops) != 1:
            raise self.fail(f"condition on {code!r} needs exactly one of is/in/gte/gt/lte/lt")
        op, operand = ops[0], raw[ops[0]]
        if finding.type == "boolean":
            if op != "is" or not isinstance(operand, bool):
                raise self.fail(f"boolean finding {code!r} can only be tested with is: true/false")
        elif finding.type == "choice":
            allowed = finding.option_codes()
            values = operand if op == "in" else [operand]
            if op not in ("is", "in") or not isinstance(values, list) or not set(values) <= allowed:
                raise self.fail(
                    f"choice finding {code!r} tested with {operand!r}; options are {sorted(allowed)}"
                )
            operand = frozenset(values) if op == "in" else operand
        elif op not in COMPARISONS or isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise self.fail(f"numeric finding {code!r} needs gte/gt/lte/lt with a number")
        return FindingAtom(code, op, operand, if_unknown)

    def _age(self, raw: dict[str, Any]) -> AgeAtom:
        key = "age_years" if "age_years" in raw else "age_months"
        spec = raw[key]
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in COMPARISONS:
            raise self.fail(f"{key} needs one of {COMPARISONS} with a number, got {spec!r}")
        op, value = next(iter(spec.items()))
        months = float(value) * (12 if key == "age_years" else 1)
        return AgeAtom(op, months, bool(raw.get("if_unknown", False)))
