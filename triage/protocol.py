"""Load triage protocols from data files, expand shared blocks and validate them statically.

A protocol is a FHIR Questionnaire in disguise (items with codes and enableWhen) plus
assessment rules. Shared red-flag blocks are included by name, so a red flag is written once
and asked wherever it can occur. Everything that can be checked without running the engine is
checked here; `triage.reachability` checks the rest (that every rule can actually fire).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from triage.conditions import Condition, ConditionCompiler, Value
from triage.dispositions import COMPETENCES, DISPOSITIONS, rank
from triage.errors import ProtocolError
from triage.vocabulary import RESERVED_CODES, Vocabulary

# Guidance a rule may cite; a rule without one of these is not traceable to Swedish practice.
PUBLISHERS: Final = (
    "1177",
    "RAKEL",
    "Läkemedelsverket",
    "Socialstyrelsen",
    "Folkhälsomyndigheten",
    "Giftinformationscentralen",
    "Rikshandboken BHV",
    "Strama",
    "Nationellt kliniskt kunskapsstöd",
)
ENABLE_OPERATORS: Final = ("exists", "=", "!=", ">", "<", ">=", "<=")
ANSWER_KEYS: Final = {
    "boolean": "answerBoolean",
    "integer": "answerInteger",
    "decimal": "answerDecimal",
    "choice": "answerCoding",
}


@dataclass(frozen=True)
class Text:
    """A text in Swedish and English."""

    sv: str
    en: str


@dataclass(frozen=True)
class Advice:
    """Self-care advice: what to do, what to watch for, when to seek care after all."""

    do: Text
    watch_for: Text
    seek_care_if: Text


@dataclass(frozen=True)
class EnableWhen:
    """One FHIR enableWhen clause over another item's answer."""

    question: str
    operator: str
    answer: Value


@dataclass(frozen=True)
class Item:
    """One question of a protocol: a finding code, asked only when enabled."""

    code: str
    enable_when: tuple[EnableWhen, ...] = ()
    enable_behavior: str = "all"


@dataclass(frozen=True)
class Rule:
    """One assessment rule: when the condition holds, this disposition (or a more urgent one)."""

    id: str
    condition: Condition | None
    disposition: str
    competence: str
    rationale: Text
    source: str
    origin: str
    advice: Advice | None = None

    rank: int = (
        -1
    )  # set from the disposition in __post_init__; cached because the engine sorts by it constantly

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", rank(self.disposition))


@dataclass(frozen=True)
class Protocol:
    """A compiled protocol for one chief complaint."""

    complaint: str
    title: Text
    source: str
    implies: dict[str, Value]
    items: tuple[Item, ...]
    rules: tuple[Rule, ...]
    default: Rule
    item_index: dict[str, int]


def _text(raw: Any, where: str, source: str) -> Text:
    if not isinstance(raw, dict) or not raw.get("sv") or not raw.get("en"):
        raise ProtocolError(source, f"{where} needs both `sv` and `en` texts")
    return Text(sv=str(raw["sv"]), en=str(raw["en"]))


def _advice(raw: Any, where: str, source: str) -> Advice | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProtocolError(source, f"{where}: advice must be a mapping")
    return Advice(
        do=_text(raw.get("do"), f"{where} advice.do", source),
        watch_for=_text(raw.get("watch_for"), f"{where} advice.watch_for", source),
        seek_care_if=_text(raw.get("seek_care_if"), f"{where} advice.seek_care_if", source),
    )


def _union(first: Item, second: Item) -> Item:
    """Merge two definitions of one question: it is asked when either definition would ask it."""
    if not first.enable_when or not second.enable_when:
        return Item(code=first.code)
    flat = all(len(i.enable_when) == 1 or i.enable_behavior == "any" for i in (first, second))
    if not flat:  # FHIR enableWhen has no (a and b) or c: ask unconditionally rather than too rarely
        return Item(code=first.code)
    clauses = tuple(dict.fromkeys((*first.enable_when, *second.enable_when)))
    return Item(code=first.code, enable_when=clauses, enable_behavior="any")


class ProtocolBuilder:
    """Compile one protocol document (with its blocks) against the vocabulary."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        blocks: dict[str, tuple[str, dict[str, Any]]],
        expansions: dict[str, list[Any]] | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.blocks = blocks
        self.expansions = expansions or {}
        self._usable: dict[str, list[Any]] = {}

    def build(self, document: dict[str, Any], source: str) -> Protocol:
        """Compile and statically validate a protocol document read from `source`."""
        complaint = document.get("protocol")
        if complaint not in self.vocabulary.complaints:
            raise ProtocolError(source, f"`protocol` must be a chief-complaint code, got {complaint!r}")
        implies = self._implies(document.get("implies", []), source)
        raw_items: list[tuple[Any, str]] = []
        raw_rules: list[tuple[Any, str, dict[str, Any]]] = []
        self._expand(document, source, raw_items, raw_rules, stack=())
        items = self._items(raw_items, implies)
        index = {item.code: i for i, item in enumerate(items)}
        reachable_codes = set(index) | set(implies) | {"age-years", "age-months", "sex"}
        plain = ConditionCompiler(self.vocabulary, source)
        self._usable = {
            code: [alt for alt in alternatives if set(plain.compile(alt).codes()) <= reachable_codes]
            for code, alternatives in self.expansions.items()
        }
        rules, seen = [], set()
        for raw, origin, defaults in raw_rules:
            rule = self._rule(raw, origin, defaults)
            if rule.id in seen:
                continue  # the same block reached through two includes
            seen.add(rule.id)
            rules.append(rule)
        default = self._rule(
            {**document.get("default", {}), "id": f"{complaint}-default"}, source, document, default=True
        )
        if default.rank < rank("within-24h"):
            raise ProtocolError(source, "the default disposition cannot be urgent or an emergency")
        askable = set(index) | set(implies) | {"age-years", "age-months", "sex"}
        for rule in rules:
            assert rule.condition is not None
            missing = sorted(set(rule.condition.codes()) - askable)
            if missing:
                raise ProtocolError(
                    rule.origin, f"rule {rule.id!r} uses {missing}, which no item of {complaint} asks"
                )
        ordered = tuple(sorted(rules, key=lambda r: r.rank))
        for item in items:
            for clause in item.enable_when:
                if (
                    clause.question not in index
                    and clause.question not in implies
                    and clause.question not in RESERVED_CODES
                ):
                    raise ProtocolError(
                        source,
                        f"item {item.code!r} has enableWhen on {clause.question!r}, which is not an item",
                    )
        return Protocol(
            complaint,
            _text(document.get("title"), "title", source),
            source,
            implies,
            items,
            ordered,
            default,
            index,
        )

    def _implies(self, raw: Any, source: str) -> dict[str, Value]:
        if not isinstance(raw, list):
            raise ProtocolError(source, "`implies` must be a list of boolean finding codes")
        for code in raw:
            if code not in self.vocabulary or self.vocabulary.get(code).type != "boolean":
                raise ProtocolError(source, f"`implies` names {code!r}, which is not a boolean finding")
        return {str(code): True for code in raw}

    def _expand(
        self,
        document: dict[str, Any],
        source: str,
        items: list[tuple[Any, str]],
        rules: list[tuple[Any, str, dict[str, Any]]],
        stack: tuple[str, ...],
    ) -> None:
        for raw in document.get("items", []) or []:
            if isinstance(raw, dict) and "include" in raw:
                name = raw["include"]
                if name in stack:
                    raise ProtocolError(source, f"block {name!r} includes itself")
                if name not in self.blocks:
                    raise ProtocolError(source, f"include names unknown block {name!r}")
                block_source, block = self.blocks[name]
                self._expand(block, block_source, items, rules, (*stack, name))
            else:
                items.append((raw, source))
        for raw in document.get("rules", []) or []:
            rules.append((raw, source, document))

    def _items(self, raw_items: list[tuple[Any, str]], implies: dict[str, Value]) -> tuple[Item, ...]:
        items: dict[str, Item] = {}
        for raw, source in raw_items:
            item = self._item(raw, source)
            if item.code in RESERVED_CODES:
                raise ProtocolError(
                    source, f"item {item.code!r} is asked by the engine itself, not by protocols"
                )
            if item.code in implies:
                continue
            if item.code not in items:
                items[item.code] = item  # the position of the first mention decides the order
            else:
                items[item.code] = _union(items[item.code], item)
        return tuple(items.values())

    def _item(self, raw: Any, source: str) -> Item:
        if isinstance(raw, str):
            raw = {"code": raw}
        if not isinstance(raw, dict) or not raw.get("code"):
            raise ProtocolError(source, f"question without a code: {raw!r}")
        code = raw["code"]
        if code not in self.vocabulary:
            raise ProtocolError(source, f"question code {code!r} is not in the findings vocabulary")
        behavior = raw.get("enableBehavior", "all")
        if behavior not in ("all", "any"):
            raise ProtocolError(source, f"item {code!r}: enableBehavior must be all or any")
        clauses = tuple(self._enable_when(c, code, source) for c in raw.get("enableWhen", []) or [])
        return Item(code=code, enable_when=clauses, enable_behavior=behavior)

    def _enable_when(self, raw: Any, code: str, source: str) -> EnableWhen:
        if not isinstance(raw, dict) or raw.get("operator") not in ENABLE_OPERATORS:
            raise ProtocolError(
                source, f"item {code!r}: enableWhen needs question, operator {ENABLE_OPERATORS} and an answer"
            )
        question = raw.get("question")
        if not isinstance(question, str) or question not in self.vocabulary:
            raise ProtocolError(
                source, f"item {code!r}: enableWhen question {question!r} is not a finding code"
            )
        finding = self.vocabulary.get(question)
        if raw["operator"] == "exists":
            return EnableWhen(question, "exists", bool(raw.get("answerBoolean", True)))
        key = ANSWER_KEYS[finding.type]
        if key not in raw:
            raise ProtocolError(source, f"item {code!r}: enableWhen on {question!r} needs {key}")
        answer = raw[key]
        if finding.type == "choice":
            answer = answer.get("code") if isinstance(answer, dict) else answer
            if answer not in finding.option_codes():
                raise ProtocolError(
                    source, f"item {code!r}: enableWhen answer {answer!r} is not an option of {question!r}"
                )
        return EnableWhen(question, raw["operator"], answer)

    def _rule(self, raw: Any, origin: str, defaults: dict[str, Any], default: bool = False) -> Rule:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise ProtocolError(origin, f"rule without an id: {raw!r}")
        rule_id = str(raw["id"])
        disposition = raw.get("disposition")
        if disposition not in DISPOSITIONS:
            raise ProtocolError(
                origin, f"rule {rule_id!r} has invalid disposition {disposition!r}; use one of {DISPOSITIONS}"
            )
        competence = raw.get(
            "competence", defaults.get("competence", "doctor" if rank(disposition) < 2 else "nurse")
        )
        if competence not in COMPETENCES:
            raise ProtocolError(origin, f"rule {rule_id!r} has unknown competence {competence!r}")
        source = str(raw.get("source", defaults.get("source", "")))
        if not source.startswith(PUBLISHERS):
            raise ProtocolError(
                origin, f"rule {rule_id!r} must name its source, starting with one of {PUBLISHERS}"
            )
        condition = None
        if not default:
            if "when" not in raw:
                raise ProtocolError(origin, f"rule {rule_id!r} has no `when` condition")
            compiler = ConditionCompiler(self.vocabulary, f"{origin} rule {rule_id!r}", self._usable)
            condition = compiler.compile(raw["when"])
        advice = _advice(raw.get("advice"), f"rule {rule_id!r}", origin)
        if disposition == "self-care" and advice is None:
            raise ProtocolError(origin, f"rule {rule_id!r} ends in self-care, so it needs advice")
        return Rule(
            rule_id,
            condition,
            disposition,
            competence,
            _text(raw.get("rationale"), f"rule {rule_id!r} rationale", origin),
            source,
            origin,
            advice,
        )
