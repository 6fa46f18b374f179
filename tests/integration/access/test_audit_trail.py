"""Every access to patient data writes exactly one AuditEvent, in the same transaction, saying who, what and why."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from fhir_api.messages import FhirRequest
from fhir_api.store.schema import resources
from fhir_api.validation import validate_resource
from hub.access import AccessSettings, hub_caller
from tests.integration.access.conftest import GuardedHub, make_hub
from tests.integration.access.world import (
    ANDERS,
    ANNA,
    ERIK,
    LILLY_PNR,
    REVIEWER,
    REVIEWER_SYD,
    SYSTEM_NORR,
    TOLVAN,
    guardian_of,
)

PROXIED = AccessSettings(anonymous_burst=1_000_000, forwarded_hops=1)


@pytest.fixture
def proxied(database_url: str, key_ring: Any, triage_catalog: Any) -> Iterator[GuardedHub]:
    """A hub behind one trusted proxy, so the client address comes from X-Forwarded-For."""
    yield from make_hub(database_url, key_ring, triage_catalog, PROXIED)


def new_events(hub: GuardedHub, before: int) -> list[dict[str, Any]]:
    return hub.audit_events()[before:]


def extension(agent: dict[str, Any], suffix: str) -> Any:
    return next(e for e in agent.get("extension", []) if e["url"].endswith(suffix))


def test_a_read__writes_one_valid_audit_event_naming_user_unit_purpose_patient_resource_and_address(
        proxied: GuardedHub) -> None:
    before = len(proxied.audit_events())
    resp = proxied.client.get("/fhir/Encounter/encounter-anders", headers=proxied.headers(
        ANNA, **{"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}))
    assert resp.status_code == 200
    (event,) = new_events(proxied, before)
    validate_resource({k: v for k, v in event.items() if k != "meta"}, "AuditEvent")
    user, unit, provider = event["agent"]
    assert user["who"]["identifier"] == {"system": "urn:oid:1.2.752.29.4.19", "value": ANNA.employee_hsa_id}
    assert user["altId"] == ANNA.employee_hsa_id and user["requestor"] is True
    assert user["network"] == {"address": "203.0.113.7", "type": "2"}  # the proxy's view, not the client's claim
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert extension(user, "acting-care-unit")["valueIdentifier"]["value"] == "SE2321000000-DIG1"
    assert unit["who"] == {"identifier": {"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000000-DIG1"},
                           "reference": "Organization/dig1"}
    assert provider["altId"] == "SE2321000000-NORR"
    assert event["action"] == "R" and event["outcome"] == "0" and event["subtype"][0]["code"] == "read"
    assert event["recorded"] == "2025-03-01T12:00:00.000Z"
    whats = {(e["role"]["code"], e["what"]["reference"]) for e in event["entity"]}
    assert whats == {("1", "Patient/anders"), ("4", "Encounter/encounter-anders")}
    assert "meta" not in event or "security" not in event["meta"]


def test_a_search__writes_one_audit_event_with_its_query_and_every_patient_it_showed(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    resp = hub.client.get("/fhir/Task", params={"status": "ready", "_include": "Task:patient"},
                          headers=hub.headers(ANNA))
    assert resp.status_code == 200 and len(resp.json()["entry"]) == 6
    (event,) = new_events(hub, before)
    assert event["action"] == "E" and event["subtype"][0]["code"] == "search-type"
    query = next(e for e in event["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == "Task?status=ready&_include=Task%3Apatient"
    patients = {e["what"]["reference"] for e in event["entity"] if e["role"]["code"] == "1"}
    assert patients == {"Patient/anders", "Patient/lilly", "Patient/teo"}


def test_writes__are_audited_as_create_and_update_of_the_resource_written(hub: GuardedHub) -> None:
    body = hub.world.get("Communication", "message-anders")
    for key in ("id", "meta"):
        body.pop(key)
    before = len(hub.audit_events())
    created = hub.client.post("/fhir/Communication", json=body, headers=hub.headers(ANDERS))
    assert created.status_code == 201
    (event,) = new_events(hub, before)
    assert event["action"] == "C"
    assert {"reference": f"Communication/{created.json()['id']}"} in [e.get("what") for e in event["entity"]]
    user = event["agent"][0]
    assert user["who"]["identifier"]["value"] == ANDERS.person_id
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "PATRQT"


def test_a_guardian_and_a_regional_system__are_logged_as_what_they_are(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    assert hub.client.get("/fhir/Patient/lilly", headers=hub.headers(guardian_of(LILLY_PNR))).status_code == 200
    assert hub.client.get("/fhir/Patient/anders", headers=hub.headers(SYSTEM_NORR)).status_code == 200
    guardian, system = new_events(hub, before)
    assert guardian["agent"][0]["role"][0]["coding"][0]["code"] == "GUARD"
    assert extension(guardian["agent"][0], "acting-for-child")["valueIdentifier"]["value"] == LILLY_PNR
    assert guardian["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "FAMRQT"
    assert system["agent"][0]["who"]["identifier"]["value"] == "journal-norr"
    assert system["agent"][1]["altId"] == "SE2321000000-NORR"


def test_a_failing_write__leaves_no_audit_event(hub: GuardedHub) -> None:
    before, encounters = len(hub.audit_events()), hub.count("Encounter")
    body = hub.world.get("Encounter", "encounter-anders")
    for key in ("id", "meta"):
        body.pop(key)
    body["status"] = 42
    assert hub.client.post("/fhir/Encounter", json=body, headers=hub.headers(ANNA)).status_code in (400, 422)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": dict(body, status="arrived"), "request": {"method": "POST", "url": "Encounter"}},
        {"request": {"method": "GET", "url": "Encounter/encounter-lilly"}},
        {"request": {"method": "DELETE", "url": "Encounter/encounter-anders"}}]}
    assert hub.client.post("/fhir", json=bundle, headers=hub.headers(ANNA)).status_code == 403
    assert len(hub.audit_events()) == before and hub.count("Encounter") == encounters


def test_a_failing_audit_write__rolls_back_the_access_it_records(hub: GuardedHub,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import hub.access.guard as guard_module

    def broken(_record: Any) -> dict[str, Any]:
        return {"type": "not a resource"}  # the store cannot write it: no resourceType

    monkeypatch.setattr(guard_module, "audit_event", broken)
    body = hub.world.get("Encounter", "encounter-anders")
    for key in ("id", "meta"):
        body.pop(key)
    encounters = hub.count("Encounter")
    resp = hub.client.post("/fhir/Encounter", json=body, headers=hub.headers(ANNA))
    assert resp.status_code == 500
    assert hub.count("Encounter") == encounters


def test_a_transaction__writes_one_audit_event_per_entry_in_its_own_transaction(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Encounter/encounter-lilly"}},
        {"request": {"method": "GET", "url": "Patient/anders"}},
        {"request": {"method": "GET", "url": "Organization/dig1"}}]}
    assert hub.client.post("/fhir", json=bundle, headers=hub.headers(ANNA)).status_code == 200
    events = new_events(hub, before)
    assert [e["entity"][-1]["what"]["reference"] for e in events] == ["Encounter/encounter-lilly", "Patient/anders"]


def test_directory_and_public_reads_and_the_hub_itself__write_no_audit_event(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    assert hub.client.get("/fhir/Organization/dig1", headers=hub.headers(ANNA)).status_code == 200
    assert hub.client.get("/fhir/Questionnaire/cough").status_code == 200
    assert hub.client.get("/fhir/metadata").status_code == 200
    hub.server.handle(FhirRequest.from_url("GET", "Encounter/encounter-anders", caller=hub_caller()))
    assert len(hub.audit_events()) == before


def test_a_citizen__reads_who_has_accessed_their_data_and_no_one_elses(hub: GuardedHub) -> None:
    assert hub.client.get("/fhir/Encounter/encounter-anders", headers=hub.headers(ERIK)).status_code == 404
    assert hub.client.get("/fhir/Encounter/encounter-anders", headers=hub.headers(ANNA)).status_code == 200
    resp = hub.client.get("/fhir/AuditEvent", params={"patient": "Patient/anders"}, headers=hub.headers(ANDERS))
    assert resp.status_code == 200
    who = [e["resource"]["agent"][0]["altId"] for e in resp.json()["entry"]]
    assert who == [ANNA.employee_hsa_id, ANNA.employee_hsa_id]  # the earlier read, and this one; Erik saw nothing
    for principal, patient in ((ANDERS, "lilly"), (TOLVAN, "anders")):
        other = hub.client.get("/fhir/AuditEvent", params={"patient": f"Patient/{patient}"},
                               headers=hub.headers(principal))
        assert other.status_code == 200 and "entry" not in other.json()


def test_a_log_reviewer__searches_by_user_patient_unit_and_period_within_their_care_provider(
        hub: GuardedHub) -> None:
    hub.client.get("/fhir/Patient/anders", headers=hub.headers(ANNA))
    hub.clock.advance(days=2)
    hub.client.get("/fhir/Patient/lilly", headers=hub.headers(ANNA))
    reviewer = hub.headers(REVIEWER)

    def found(**params: str) -> list[str]:
        resp = hub.client.get("/fhir/AuditEvent", params={**params, "_count": "100"}, headers=reviewer)
        assert resp.status_code == 200, resp.text
        return [e["resource"]["id"] for e in resp.json().get("entry", [])]

    anna = ANNA.employee_hsa_id  # the reviewer's own searches are logged too: count Anna's accesses only
    by_user = found(**{"agent-identifier": f"urn:oid:1.2.752.29.4.19|{anna}"})
    assert len(by_user) == 5 and found(altid=anna) == by_user
    assert len(found(patient="Patient/anders", altid=anna)) == 2
    assert len(found(altid="SE2321000000-DIG1")) == 5 and len(found(agent="Organization/dig1")) == 5
    assert len(found(date="ge2025-03-02", altid=anna)) == 1
    assert len(found(date="lt2025-03-02", patient="Patient/anders", altid=anna)) == 2
    syd = hub.client.get("/fhir/AuditEvent", headers=hub.headers(REVIEWER_SYD))
    assert syd.status_code == 200 and "entry" not in syd.json()


@pytest.mark.parametrize("principal", [ANNA, REVIEWER, ANDERS, SYSTEM_NORR, None])
def test_the_log__cannot_be_changed_or_deleted_through_the_api_by_anyone(hub: GuardedHub, principal: Any) -> None:
    event = hub.world.get("AuditEvent", "audit-anders")
    event.pop("meta")
    headers = hub.headers(principal)
    assert hub.client.put("/fhir/AuditEvent/audit-anders", json=event, headers=headers).status_code == 405
    assert hub.client.patch("/fhir/AuditEvent/audit-anders", json=[], headers={
        **headers, "Content-Type": "application/json-patch+json"}).status_code == 405
    assert hub.client.delete("/fhir/AuditEvent/audit-anders", headers=headers).status_code == 405
    assert hub.client.post("/fhir/AuditEvent", json=event, headers=headers).status_code == (
        401 if principal is None else 403)
    with hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(resources).where(
            resources.c.res_type == "AuditEvent", resources.c.deleted.is_(True))).scalar_one() == 0


def test_the_hub_itself__cannot_delete_the_log_through_the_api_either(hub: GuardedHub) -> None:
    from fhir_api.outcomes import MethodNotAllowed

    with pytest.raises(MethodNotAllowed):
        hub.server.handle(FhirRequest.from_url("DELETE", "AuditEvent/audit-anders", caller=hub_caller()))


@pytest.mark.parametrize("principal", [REVIEWER, ANNA])
def test_the_log__cannot_be_changed_by_a_conditional_request_or_inside_a_bundle_either(
        hub: GuardedHub, principal: Any) -> None:
    event = hub.world.get("AuditEvent", "audit-anders")
    event.pop("meta")
    headers = hub.headers(principal)
    assert hub.client.delete("/fhir/AuditEvent", params={"patient": "Patient/anders"},
                             headers=headers).status_code == 405
    assert hub.client.put("/fhir/AuditEvent", params={"_id": "audit-anders"}, json=event,
                          headers=headers).status_code == 405
    for kind in ("transaction", "batch"):
        bundle = {"resourceType": "Bundle", "type": kind, "entry": [
            {"request": {"method": "DELETE", "url": "AuditEvent/audit-anders"}},
            {"resource": event, "request": {"method": "PUT", "url": "AuditEvent/audit-anders"}}]}
        response = hub.client.post("/fhir", json=bundle, headers=headers)
        if kind == "transaction":
            assert response.status_code == 405, response.text
        else:
            statuses = [e["response"]["status"] for e in response.json()["entry"]]
            assert all(s.startswith("405") for s in statuses), statuses
    with hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(resources).where(
            resources.c.res_type == "AuditEvent", resources.c.res_id == "audit-anders",
            resources.c.deleted.is_(False))).scalar_one() == 1
    current = hub.client.get("/fhir/AuditEvent/audit-anders", headers=hub.headers(REVIEWER))
    assert current.json()["meta"]["versionId"] == "1"
