"""Load every protocol, block and derivation once, validate them, and keep them compiled.

Build the catalog at start-up (`load_catalog()`), pass it to every `next_question` call: the
per-request work is then only rule evaluation, well under a millisecond. A catalog that does
not validate never loads, so a bad protocol file fails the deploy rather than a citizen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from triage.conditions import ConditionCompiler
from triage.decision import Derivation
from triage.errors import ProtocolError
from triage.protocol import Protocol, ProtocolBuilder
from triage.reachability import check_reachable
from triage.vocabulary import Vocabulary, load_vocabulary

try:  # the C loader is ten times faster; fall back quietly where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class Catalog:
    """The compiled protocols by chief complaint, with the vocabulary they were checked against."""

    vocabulary: Vocabulary
    protocols: dict[str, Protocol]
    derivations: tuple[Derivation, ...]

    def protocol(self, complaint: str) -> Protocol:
        """Return the protocol for a chief-complaint code; KeyError if there is none."""
        return self.protocols[complaint]


def parse_document(text: str, source: str) -> dict[str, Any]:
    """Parse one YAML (or JSON) protocol document; ProtocolError names the file on failure."""
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ProtocolError(source, f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProtocolError(source, "a protocol file must hold a mapping")
    return document


def _expansions(document: dict[str, Any]) -> dict[str, list[Any]]:
    """Return the derivations marked `expand: true`, which rules read as alternatives of the finding."""
    expansions: dict[str, list[Any]] = {}
    for raw in document.get("derived", []):
        if isinstance(raw, dict) and raw.get("expand") is True:
            expansions.setdefault(str(raw["finding"]), []).append(raw["when"])
    return expansions


def _derivations(document: dict[str, Any], source: str, vocabulary: Vocabulary) -> tuple[Derivation, ...]:
    compiler = ConditionCompiler(vocabulary, source)
    result = []
    for raw in document.get("derived", []):
        code = raw.get("finding") if isinstance(raw, dict) else None
        if not isinstance(code, str) or code not in vocabulary or vocabulary.get(code).type != "boolean":
            raise ProtocolError(source, f"derived finding {code!r} must be a boolean finding code")
        result.append(Derivation(code, compiler.compile(raw.get("when"))))
    return tuple(result)


def build_catalog(
    documents: Iterable[tuple[str, str]],
    *,
    vocabulary: Vocabulary | None = None,
    require_all_complaints: bool = True,
    check_rules_reachable: bool = True,
) -> Catalog:
    """Compile (source name, text) documents into a Catalog, validating each on the way.

    Documents with `block:` are shared blocks, one with `derived:` holds derivations, and
    every other document is one complaint's protocol.
    """
    vocabulary = vocabulary or load_vocabulary()
    blocks: dict[str, tuple[str, dict[str, Any]]] = {}
    protocol_documents: list[tuple[str, dict[str, Any]]] = []
    derivations: tuple[Derivation, ...] = ()
    expansions: dict[str, list[Any]] = {}
    for source, text in documents:
        document = parse_document(text, source)
        if "block" in document:
            if document["block"] in blocks:
                raise ProtocolError(source, f"block {document['block']!r} is defined twice")
            blocks[str(document["block"])] = (source, document)
        elif "derived" in document:
            derivations += _derivations(document, source, vocabulary)
            for code, alternatives in _expansions(document).items():
                expansions.setdefault(code, []).extend(alternatives)
        else:
            protocol_documents.append((source, document))
    builder = ProtocolBuilder(vocabulary, blocks, expansions)
    protocols: dict[str, Protocol] = {}
    for source, document in protocol_documents:
        protocol = builder.build(document, source)
        if protocol.complaint in protocols:
            raise ProtocolError(
                source,
                f"a second protocol for {protocol.complaint} (first: {protocols[protocol.complaint].source})",
            )
        protocols[protocol.complaint] = protocol
    if require_all_complaints:
        missing = sorted(set(vocabulary.complaints) - set(protocols))
        if missing:
            raise ProtocolError("triage/protocols", f"no protocol for the chief complaints {missing}")
    if check_rules_reachable:
        check_reachable(list(protocols.values()), vocabulary, derivations)
    return Catalog(vocabulary, protocols, derivations)


def _walk(folder: Traversable, prefix: str) -> Iterable[tuple[str, str]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith((".yaml", ".yml", ".json")):
            yield f"{prefix}{entry.name}", entry.read_text(encoding="utf-8")


def load_catalog_from(folder: Path | Traversable, **options: Any) -> Catalog:
    """Compile every protocol file under a folder (used by tests with altered copies)."""
    return build_catalog(_walk(folder, "protocols/"), **options)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Compile and validate the protocols shipped in `triage/protocols`, once per process."""
    return load_catalog_from(resources.files("triage.protocols"))
