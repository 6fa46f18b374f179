"""Read which journal each region's notes go to: a FHIR endpoint, or a region's own adapter.

`INGANG_JOURNALS_FILE` maps region codes (as in the region files) to either a FHIR journal
(`base_url`, OAuth2 client credentials) or `adapter: "package.module:factory"` with
`options`, for a region that files notes in its own system through an implementation of
adapters/vis/port.py. A file that cannot be used stops start-up, naming region and field.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapters.vis.fake import InMemoryJournal
from adapters.vis.fhir_export import FhirJournalConfig, FhirJournalExport
from adapters.vis.port import JournalExport


@dataclass(frozen=True)
class CustomJournal:
    """A region's own implementation of the VIS export port: where to find it and what to give it."""

    factory: str  # "package.module:callable"
    options: Mapping[str, Any] = field(default_factory=dict)


class JournalConfigError(ValueError):
    """A journals file the hub cannot use: which region and field."""


def load_journals(path: str) -> dict[str, FhirJournalConfig | CustomJournal]:
    """Read the journals file: `regions: {<code>: {base_url, token_url, client_id, client_secret…}}`.

    The secret may be given as `client_secret_file` instead, so it can live in a mounted secret.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        data = yaml.safe_load(text) if source.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise JournalConfigError(f"{source}: cannot read the journals file: {exc}") from None
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, dict):
        raise JournalConfigError(f"{source}: the journals file needs a top-level 'regions' mapping")
    known = {"base_url", "token_url", "client_id", "client_secret", "client_secret_file", "scope", "timeout_s"}
    out: dict[str, FhirJournalConfig | CustomJournal] = {}
    for code, entry in regions.items():
        where = f"{source}: region {code}"
        if isinstance(entry, dict) and "adapter" in entry:
            out[str(code)] = _custom(entry, where)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("base_url"), str):
            raise JournalConfigError(f"{where}: needs base_url (a FHIR journal) or adapter (the region's own)")
        extra = sorted(set(entry) - known)
        if extra:
            raise JournalConfigError(f"{where}: unknown field(s) {', '.join(extra)}")
        secret = str(entry.get("client_secret", ""))
        if entry.get("client_secret_file"):
            try:
                secret = Path(str(entry["client_secret_file"])).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise JournalConfigError(f"{where}: client_secret_file: {exc}") from None
        if entry.get("token_url") and not (entry.get("client_id") and secret):
            raise JournalConfigError(f"{where}: a token_url needs client_id and a client secret")
        out[str(code)] = FhirJournalConfig(
            base_url=entry["base_url"], token_url=str(entry.get("token_url", "")),
            client_id=str(entry.get("client_id", "")), client_secret=secret, scope=str(entry.get("scope", "")),
            timeout_s=float(entry.get("timeout_s", 10.0)))
    return out


def units_by_region(regions_dir: Path) -> dict[str, str]:
    """Map each unit's HSA-id to its region's code, from the regions' routing files."""
    out: dict[str, str] = {}
    for path in sorted(regions_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        code = str((doc.get("region") or {}).get("code", ""))
        for unit in doc.get("units") or []:
            if isinstance(unit, dict) and unit.get("hsa_id"):
                out[str(unit["hsa_id"])] = code
    return out


def _custom(entry: Mapping[str, Any], where: str) -> CustomJournal:
    extra = sorted(set(entry) - {"adapter", "options"})
    if extra:
        raise JournalConfigError(f"{where}: unknown field(s) {', '.join(extra)} (an adapter takes options only)")
    factory, options = entry["adapter"], entry.get("options") or {}
    if not isinstance(factory, str) or factory.count(":") != 1:
        raise JournalConfigError(f"{where}: adapter must be 'package.module:factory'")
    if not isinstance(options, dict):
        raise JournalConfigError(f"{where}: options must be a mapping")
    return CustomJournal(factory, options)


def _instantiate(code: str, spec: CustomJournal) -> JournalExport:
    module_name, _, attr = spec.factory.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        export = factory(**spec.options)
    except Exception as exc:  # whatever a region's factory raises, start-up stops and says where
        raise SystemExit(f"configuration error: INGANG_JOURNALS_FILE: region {code}: adapter {spec.factory}: "
                         f"{exc}") from None
    if not callable(getattr(export, "deliver", None)):
        raise SystemExit(f"configuration error: INGANG_JOURNALS_FILE: region {code}: adapter {spec.factory} "
                         "made something without a deliver(document) method")
    return export  # type: ignore[no-any-return]


def build_exports(journals_file: str, mode: str) -> tuple[dict[str, JournalExport], JournalExport | None]:
    """Return the configured journals per region, and the fake every other region uses in development."""
    try:
        configs = load_journals(journals_file) if journals_file else {}
    except JournalConfigError as exc:
        raise SystemExit(f"configuration error: INGANG_JOURNALS_FILE: {exc}") from None
    exports: dict[str, JournalExport] = {
        code: _instantiate(code, c) if isinstance(c, CustomJournal) else FhirJournalExport(c)
        for code, c in configs.items()}
    # In production an unconfigured region's notes go to dead letters, never into a fake.
    return exports, (None if mode == "production" else InMemoryJournal("dev-journal"))
