"""`GET Patient/{id}/$journal`: the region's journal for a clinician, within the access rules.

The hub is the access tests' world (Anna at DIG1 has cases for Anders, Lilly and Teo; Maria
works in another region). Sources are the in-memory fake and, in the last tests, the zeep
client against the local SOAP server process.
"""

from __future__ import annotations

from typing import Any

from adapters.riv.errors import RivFault, RivTimeout
from adapters.riv.soap import RivCaller, RivEndpoint
from adapters.vis.riv_journal import FakeJournalView, JournalView, ZeepJournalView
from hub.journal_view_wiring import RIV_CASE_OPERATIONS, register_journal_view
from tests.fixtures.soap_server.harness import LOGICAL_ADDRESS, SoapServer
from tests.fixtures.soap_server.samples import care_contact, care_documentation
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANDERS, ANDERS_PNR, ANNA, MARIA

JOURNAL = "/fhir/Patient/anders/$journal"


def with_sources(hub: GuardedHub, *views: JournalView) -> None:
    """Register the journal view over these sources and open it to clinicians, as create_app does."""
    register_journal_view(hub.server, views)
    hub.guard.case_operations = hub.guard.case_operations | RIV_CASE_OPERATIONS


def region_journal(name: str = "Journal Norr") -> FakeJournalView:
    view = FakeJournalView(name)
    view.documents[ANDERS_PNR].append(care_documentation("D1", patient=ANDERS_PNR))
    view.contacts[ANDERS_PNR].append(care_contact("C1", patient=ANDERS_PNR))
    return view


def by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        out.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return out


def test_journal__clinician_with_the_case_sees_documentation_and_contacts(world_hub: GuardedHub) -> None:
    with_sources(world_hub, region_journal())
    before = len(world_hub.audit_events())
    response = world_hub.client.get(JOURNAL, headers=world_hub.headers(ANNA))
    assert response.status_code == 200, response.text
    found = by_type(response.json())
    assert sorted(found) == ["DocumentReference", "Encounter"]
    assert found["DocumentReference"][0]["masterIdentifier"]["value"] == "D1"
    assert response.json()["total"] == 2
    events = world_hub.audit_events()[before:]
    assert [e["entity"][0]["what"]["reference"] for e in events] == ["Patient/anders"]


def test_journal__nothing_is_stored(world_hub: GuardedHub) -> None:
    with_sources(world_hub, region_journal())
    before = world_hub.count("DocumentReference"), world_hub.count("Encounter")
    assert world_hub.client.get(JOURNAL, headers=world_hub.headers(ANNA)).status_code == 200
    assert (world_hub.count("DocumentReference"), world_hub.count("Encounter")) == before


def test_journal__clinician_without_a_case_for_the_patient_gets_404(world_hub: GuardedHub) -> None:
    with_sources(world_hub, region_journal())
    response = world_hub.client.get(JOURNAL, headers=world_hub.headers(MARIA))
    assert response.status_code == 404


def test_journal__citizen_is_refused(world_hub: GuardedHub) -> None:
    with_sources(world_hub, region_journal())
    assert world_hub.client.get(JOURNAL, headers=world_hub.headers(ANDERS)).status_code == 403


def test_journal__a_failing_source_is_named_in_an_outcome_beside_the_others_answers(world_hub: GuardedHub) -> None:
    slow = FakeJournalView("Journal Syd")
    slow.fail_next("GetCareDocumentation", RivTimeout("GetCareDocumentation at https://syd.example/vp", "after 5 s"))
    slow.fail_next("GetCareContacts", RivFault("GetCareContacts at https://syd.example/vp", "Internt fel"))
    with_sources(world_hub, region_journal(), slow)
    response = world_hub.client.get(JOURNAL, headers=world_hub.headers(ANNA))
    assert response.status_code == 200
    found = by_type(response.json())
    assert len(found["DocumentReference"]) == len(found["Encounter"]) == 1
    [outcome] = found["OperationOutcome"]
    assert sorted((i["code"], i["diagnostics"].split(":")[0]) for i in outcome["issue"]) == [
        ("exception", "Journal Syd"), ("timeout", "Journal Syd")]
    assert any("after 5 s" in i["diagnostics"] for i in outcome["issue"])


def test_journal__a_bad_date_is_a_400_naming_the_parameter(world_hub: GuardedHub) -> None:
    with_sources(world_hub, region_journal())
    response = world_hub.client.get(JOURNAL + "?start=yesterday", headers=world_hub.headers(ANNA))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["start"]


def test_journal__over_riv_ta_a_slow_source_shows_as_a_timeout(world_hub: GuardedHub,
                                                               soap_server: SoapServer) -> None:
    soap_server.set_state({"documents": {ANDERS_PNR: [care_documentation("W1", patient=ANDERS_PNR)]},
                           "contacts": {ANDERS_PNR: [care_contact("W2", patient=ANDERS_PNR)]}})
    soap_server.script("GetCareContacts", delay=3.0)
    view = ZeepJournalView("Journal Norr", RivCaller(RivEndpoint(soap_server.base_url, LOGICAL_ADDRESS, 1.0)))
    with_sources(world_hub, view)
    response = world_hub.client.get(JOURNAL, headers=world_hub.headers(ANNA))
    assert response.status_code == 200
    found = by_type(response.json())
    assert [d["masterIdentifier"]["value"] for d in found["DocumentReference"]] == ["W1"]
    assert "Encounter" not in found
    assert [i["code"] for i in found["OperationOutcome"][0]["issue"]] == ["timeout"]
    asked = [c["request"]["patientId"] for c in soap_server.calls()]
    assert asked == [{"id": ANDERS_PNR, "type": "1.2.752.129.2.1.3.1"}] * 2
    assert soap_server.rejected() == []
