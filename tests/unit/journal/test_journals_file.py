"""The journals file: one FHIR journal per region, refused with file, region and field when wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.vis.fake import InMemoryJournal
from adapters.vis.fhir_export import FhirJournalExport
from hub.journal_config import JournalConfigError, build_exports, load_journals


def write(tmp_path: Path, data: object, name: str = "journals.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else str(data))
    return str(path)


def test_load__reads_each_regions_endpoint_and_the_secret_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    path = write(tmp_path, {"regions": {"norr": {
        "base_url": "https://j.norr.se/fhir", "token_url": "https://j.norr.se/token", "client_id": "ingang",
        "client_secret_file": str(tmp_path / "secret"), "timeout_s": 5}}})

    (code, config), = load_journals(path).items()

    assert code == "norr" and config.client_secret == "s3cret" and config.timeout_s == 5.0


def test_load__yaml_works_too(tmp_path: Path) -> None:
    path = write(tmp_path, "regions:\n  syd:\n    base_url: https://j.syd.se/fhir\n", "journals.yaml")

    assert load_journals(path)["syd"].base_url == "https://j.syd.se/fhir"


@pytest.mark.parametrize(("data", "message"), [
    ({"norr": {}}, "top-level 'regions'"),
    ({"regions": {"norr": {}}}, "region norr: needs base_url"),
    ({"regions": {"norr": {"base_url": "https://x", "colour": "red"}}}, "unknown field"),
    ({"regions": {"norr": {"base_url": "https://x", "token_url": "https://x/token"}}}, "needs client_id"),
])
def test_load__names_what_is_wrong(tmp_path: Path, data: object, message: str) -> None:
    with pytest.raises(JournalConfigError, match=message):
        load_journals(write(tmp_path, data))


def test_exports__development_sends_unconfigured_regions_to_an_in_memory_journal(tmp_path: Path) -> None:
    path = write(tmp_path, {"regions": {"norr": {"base_url": "https://j.norr.se/fhir"}}})

    exports, fallback = build_exports(path, "development")

    assert isinstance(exports["norr"], FhirJournalExport) and isinstance(fallback, InMemoryJournal)
    exports["norr"].close()  # type: ignore[attr-defined]


def test_exports__production_has_no_fallback_journal() -> None:
    assert build_exports("", "production") == ({}, None)


def test_exports__a_bad_file_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="INGANG_JOURNALS_FILE"):
        build_exports(str(tmp_path / "missing.json"), "development")


def test_exports__a_region_may_plug_in_its_own_adapter(tmp_path: Path) -> None:
    path = write(tmp_path, {"regions": {"syd": {"adapter": "adapters.vis.fake:InMemoryJournal",
                                                "options": {"name": "syd-own"}}}})

    exports, _fallback = build_exports(path, "production")

    assert isinstance(exports["syd"], InMemoryJournal) and exports["syd"].name == "syd-own"


@pytest.mark.parametrize(("entry", "message"), [
    ({"adapter": "no-colon"}, "package.module:factory"),
    ({"adapter": "adapters.vis.fake:Nothing"}, "adapter adapters.vis.fake:Nothing"),
    ({"adapter": "json:loads", "options": {"s": "{}"}}, "without a deliver"),
])
def test_exports__a_bad_adapter_stops_start_up_naming_it(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        build_exports(write(tmp_path, {"regions": {"syd": entry}}), "development")
