"""Hold the journal-view fake and the zeep client (against the local SOAP server) to one contract.

Every test in the first part runs twice: against FakeJournalView, and against ZeepJournalView
posting GetCareDocumentation and GetCareContacts to tests/fixtures/soap_server in its own
process, which validates each request against the real XSDs and checks the LogicalAddress.
The last part covers what only the wire has: the header check and a server that is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any, Protocol

import pytest

from adapters.riv.errors import RivBadAnswer, RivError, RivFault, RivTimeout, RivUnavailable
from adapters.riv.soap import RivCaller, RivEndpoint
from adapters.vis.riv_journal import FakeJournalView, JournalQuery, JournalView, ZeepJournalView
from mappings.hsa import HSA_FHIR_SYSTEM, PERSONNUMMER_FHIR_SYSTEM
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.fixtures.soap_server.samples import (
    DOCTOR,
    OTHER_PATIENT,
    PATIENT,
    UNIT,
    care_contact,
    care_documentation,
)

QUERY = JournalQuery({"system": PERSONNUMMER_FHIR_SYSTEM, "value": PATIENT}, date(2026, 1, 1), date(2026, 2, 1))
SHORT_TIMEOUT = 1.0


class Side(Protocol):
    """The verbs a test scripts the region's journal with, the same on both sides."""

    view: JournalView

    def holds(self, documents: dict[str, list[dict[str, Any]]], contacts: dict[str, list[dict[str, Any]]]) -> None: ...
    def next_call(self, operation: str, outcome: str) -> None: ...


class FakeSide:
    def __init__(self) -> None:
        self.view = FakeJournalView()

    def holds(self, documents: dict[str, list[dict[str, Any]]], contacts: dict[str, list[dict[str, Any]]]) -> None:
        self.view.documents.update(documents)
        self.view.contacts.update(contacts)

    def next_call(self, operation: str, outcome: str) -> None:
        error = {"slow": RivTimeout, "fault": RivFault, "down": RivUnavailable}[outcome]
        self.view.fail_next(operation, error(f"{operation} at fake"))


class WireSide:
    def __init__(self, server: SoapServer) -> None:
        self.server = server
        self.view = ZeepJournalView("region", RivCaller(RivEndpoint(server.base_url, LOGICAL_ADDRESS, SHORT_TIMEOUT)))
        server.set_state({})

    def holds(self, documents: dict[str, list[dict[str, Any]]], contacts: dict[str, list[dict[str, Any]]]) -> None:
        self.server.set_state({"documents": documents, "contacts": contacts})

    def next_call(self, operation: str, outcome: str) -> None:
        behaviour = {"slow": {"delay": SHORT_TIMEOUT * 3}, "fault": {"fault": "Internt fel i källsystemet"},
                     "down": {"status": 503}}[outcome]
        self.server.script(operation, **behaviour)


@pytest.fixture(params=["fake", "zeep"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    """Give each contract test the fake, then the zeep client against the SOAP server."""
    if request.param == "fake":
        yield FakeSide()
        return
    server: SoapServer = request.getfixturevalue("soap_server")
    yield WireSide(server)
    assert server.rejected() == [], "the SOAP server rejected a request the client sent"


def test_care_documentation__notes_come_back_as_document_references_with_fhir_identifiers(side: Side) -> None:
    side.holds({PATIENT: [care_documentation("D1", text="Hosta i tre veckor.")]}, {})
    [doc] = side.view.care_documentation(QUERY)
    assert doc["resourceType"] == "DocumentReference"
    assert doc["masterIdentifier"]["value"] == "D1"
    assert doc["subject"] == {"identifier": {"system": PERSONNUMMER_FHIR_SYSTEM, "value": PATIENT}}
    assert doc["author"] == [{"identifier": {"system": HSA_FHIR_SYSTEM, "value": DOCTOR}, "display": "Doktor Dahl"}]
    assert doc["custodian"]["identifier"] == {"system": HSA_FHIR_SYSTEM, "value": UNIT}
    assert doc["date"] == "2026-01-15T08:30:00Z"  # 09:30 Swedish winter time
    assert doc["type"]["coding"][0]["code"] == "bes"


def test_care_documentation__another_patients_notes_stay_out(side: Side) -> None:
    side.holds({OTHER_PATIENT: [care_documentation("D9", patient=OTHER_PATIENT)]}, {})
    assert side.view.care_documentation(QUERY) == []


def test_care_contacts__contacts_come_back_as_encounters_with_status_and_unit(side: Side) -> None:
    side.holds({}, {PATIENT: [care_contact("C1", status="5"), care_contact("C2", status="2")]})
    contacts = side.view.care_contacts(QUERY)
    assert [(c["identifier"][0]["value"], c["status"]) for c in contacts] == [("C1", "finished"), ("C2", "cancelled")]
    assert contacts[0]["class"]["code"] == "AMB"
    assert contacts[0]["serviceProvider"]["identifier"] == {"system": HSA_FHIR_SYSTEM, "value": UNIT}
    assert contacts[0]["period"] == {"start": "2026-01-15T08:00:00Z", "end": "2026-01-15T08:30:00Z"}


@pytest.mark.parametrize(("outcome", "error"), [("slow", RivTimeout), ("fault", RivFault), ("down", RivUnavailable)])
def test_failing_source__raises_the_hubs_own_error_naming_the_operation(side: Side, outcome: str,
                                                                         error: type[RivError]) -> None:
    side.holds({PATIENT: [care_documentation("D1")]}, {})
    side.next_call("GetCareDocumentation", outcome)
    with pytest.raises(error) as raised:
        side.view.care_documentation(QUERY)
    assert raised.value.source.startswith("GetCareDocumentation")
    assert PATIENT not in str(raised.value)
    assert len(side.view.care_documentation(QUERY)) == 1  # the next call is answered again


def test_wire__a_request_to_the_wrong_logical_address_is_refused_by_the_server(soap_server: SoapServer) -> None:
    soap_server.set_state({"logical_address": "SE2321000016-OTHER"})
    view = ZeepJournalView("region", RivCaller(RivEndpoint(soap_server.base_url, LOGICAL_ADDRESS, SHORT_TIMEOUT)))
    with pytest.raises(RivFault, match="LogicalAddress"):
        view.care_contacts(QUERY)
    assert [r["operation"] for r in soap_server.rejected()] == ["GetCareContacts"]


def test_wire__a_server_that_is_gone_is_unavailable() -> None:
    caller = RivCaller(RivEndpoint("http://127.0.0.1:9", LOGICAL_ADDRESS, SHORT_TIMEOUT))
    with pytest.raises(RivUnavailable):
        ZeepJournalView("region", caller).care_documentation(QUERY)


@pytest.mark.parametrize("body", ["<html><body>Bad gateway", "<soap:Envelope xmlns:soap='urn:not-soap'/>"])
def test_wire__an_answer_that_is_not_the_contracts_is_a_bad_answer(soap_server: SoapServer, body: str) -> None:
    soap_server.set_state({})
    soap_server.script("GetCareDocumentation", body=body)
    view = ZeepJournalView("region", RivCaller(RivEndpoint(soap_server.base_url, LOGICAL_ADDRESS, SHORT_TIMEOUT)))
    with pytest.raises(RivBadAnswer):
        view.care_documentation(QUERY)
