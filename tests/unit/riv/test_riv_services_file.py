"""The RIV-TA services file: what it configures, and how a bad one is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.riv.config import RivConfigError, load_services, parse_services

GOOD: dict[str, Any] = {
    "timeout_seconds": 4,
    "journal": [{"name": "Journal Norr", "base_url": "https://vp.norr.example/vp", "logical_address": "SE1-J",
                 "paths": {"GetCareContacts": "clinicalprocess/logistics/GetCareContacts/2/rivtabp21"}}],
    "booking": [{"facility": "SE1-FYS", "base_url": "https://vp.norr.example/vp", "logical_address": "SE1-B",
                 "timeout_seconds": 2}],
}


def test_services__journal_sources_and_booking_units_with_their_endpoints() -> None:
    services = parse_services(GOOD)
    [journal] = services.journal
    assert (journal.name, journal.endpoint.logical_address, journal.endpoint.timeout_seconds) == (
        "Journal Norr", "SE1-J", 4.0)
    assert journal.endpoint.url_for("GetCareContacts") == (
        "https://vp.norr.example/vp/clinicalprocess/logistics/GetCareContacts/2/rivtabp21")
    assert journal.endpoint.url_for("GetCareDocumentation") == "https://vp.norr.example/vp/GetCareDocumentation"
    booking = services.booking_endpoint("SE1-FYS")
    assert booking is not None and booking.timeout_seconds == 2.0
    assert services.booking_endpoint("SE1-OTHER") is None


@pytest.mark.parametrize(("change", "message"), [
    ({"journal": [{"base_url": "https://x"}]}, "needs logical_address"),
    ({"journal": [{"base_url": "ftp://x", "logical_address": "A"}]}, "http"),
    ({"booking": [{"base_url": "https://x", "logical_address": "A"}]}, "facility"),
    ({"booking": [GOOD["booking"][0], GOOD["booking"][0]]}, "twice"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"journal": [{**GOOD["journal"][0], "paths": {"MakeBookings": "x"}}]}, "unknown operations"),
])
def test_services__a_bad_entry_is_refused_naming_it(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RivConfigError, match=message):
        parse_services({**GOOD, **change})


def test_services__an_unreadable_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "riv.yaml"
    bad.write_text("journal: [", encoding="utf-8")
    with pytest.raises(RivConfigError, match=r"riv\.yaml"):
        load_services(bad)
