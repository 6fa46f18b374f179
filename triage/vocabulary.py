"""Load the findings vocabulary (the codes every question and rule must use) from package data.

The vocabulary is copied into `triage/data/findings.json` so the hub runs without the shared
folder; it is read once and kept, since every protocol and every request is checked against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from triage.errors import ProtocolError

FINDING_SYSTEM: Final = "https://ingang.example/fhir/CodeSystem/finding"
RESERVED_CODES: Final = ("age-years", "age-months", "sex", "chief-complaint")
ANSWER_TYPES: Final = frozenset({"boolean", "integer", "decimal", "choice"})


@dataclass(frozen=True)
class Option:
    """One answer option of a choice finding."""

    code: str
    sv: str
    en: str


@dataclass(frozen=True)
class Finding:
    """One codable thing a citizen can be asked about."""

    code: str
    type: str
    sv: str
    en: str
    group: str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    options: tuple[Option, ...] = ()

    def option_codes(self) -> frozenset[str]:
        """Return the codes a choice answer may take."""
        return frozenset(option.code for option in self.options)


@dataclass(frozen=True)
class Vocabulary:
    """The findings, the reserved case items and the chief complaints, by code."""

    system: str
    version: str
    findings: dict[str, Finding]
    complaints: dict[str, Option] = field(default_factory=dict)

    def __contains__(self, code: object) -> bool:
        return code in self.findings

    def get(self, code: str) -> Finding:
        """Return the finding with this code; KeyError names the code when it is missing."""
        return self.findings[code]


def _option(raw: dict[str, Any]) -> Option:
    return Option(
        code=str(raw["code"]), sv=str(raw.get("sv", raw["code"])), en=str(raw.get("en", raw["code"]))
    )


def _finding(raw: dict[str, Any], complaints: tuple[Option, ...]) -> Finding:
    kind = str(raw["type"])
    if kind not in ANSWER_TYPES:
        raise ProtocolError("findings.json", f"finding {raw.get('code')!r} has unknown type {kind!r}")
    options: tuple[Option, ...] = ()
    if kind == "choice":
        raw_options = raw.get("options")
        # `chief-complaint` says its options are "the complaints above" in words, not a list.
        options = tuple(_option(o) for o in raw_options) if isinstance(raw_options, list) else complaints
    return Finding(
        code=str(raw["code"]),
        type=kind,
        sv=str(raw["sv"]),
        en=str(raw["en"]),
        group=str(raw.get("group", "")),
        unit=raw.get("unit"),
        min=raw.get("min"),
        max=raw.get("max"),
        options=options,
    )


def parse_vocabulary(document: dict[str, Any], source: str = "findings.json") -> Vocabulary:
    """Build a Vocabulary from the parsed findings document; ProtocolError if it is malformed."""
    try:
        complaints = tuple(_option(c) for c in document["complaints"])
        findings: dict[str, Finding] = {}
        for raw in [*document["reserved"], *document["findings"]]:
            finding = _finding(raw, complaints)
            if finding.code in findings:
                raise ProtocolError(source, f"finding {finding.code!r} is defined twice")
            findings[finding.code] = finding
    except (KeyError, TypeError) as exc:
        raise ProtocolError(source, f"malformed vocabulary: {exc!r}") from exc
    missing = [code for code in RESERVED_CODES if code not in findings]
    if missing:
        raise ProtocolError(source, f"reserved items missing: {missing}")
    return Vocabulary(
        system=str(document.get("system", FINDING_SYSTEM)),
        version=str(document.get("version", "")),
        findings=findings,
        complaints={c.code: c for c in complaints},
    )


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """Read the vocabulary shipped in `triage/data/findings.json`, once per process."""
    text = resources.files("triage.data").joinpath("findings.json").read_text(encoding="utf-8")
    return parse_vocabulary(json.loads(text))
