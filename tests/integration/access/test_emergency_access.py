"""Emergency access (nödåtkomst): a stated reason opens one patient's cases at the own care provider, for a while.

Erik works at Vårdcentralen Norrstaden; Anders's case is at Digitala mottagningen Norr, a
unit of the same care provider (Region Norr). Maria works in Region Syd, another provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from hub.access import AccessSettings
from tests.integration.access.conftest import UNTHROTTLED, GuardedHub, make_hub
from tests.integration.access.world import ANDERS, ERIK, MARIA, case_resources

REASON = "Medvetslös vid ankomst, anhöriga nås inte"
HEADER = "X-Emergency-Access-Reason"


def with_reason(hub: GuardedHub, principal: Any = ERIK, reason: str = REASON) -> dict[str, str]:
    return hub.headers(principal, **{HEADER: quote(reason)})


def flag(event: dict[str, Any]) -> tuple[list[str], str | None]:
    """Return an AuditEvent's security labels and its stated emergency reason."""
    labels = [c["code"] for c in event.get("meta", {}).get("security", [])]
    reason = next((e["valueString"] for e in event["agent"][0].get("extension", [])
                   if e["url"].endswith("emergency-access-reason")), None)
    return labels, reason


def test_a_stated_reason__opens_the_patients_case_and_flags_the_access(hub: GuardedHub) -> None:
    assert hub.client.get("/fhir/Encounter/encounter-anders", headers=hub.headers(ERIK)).status_code == 404
    resp = hub.client.get("/fhir/Encounter/encounter-anders", headers=with_reason(hub))
    assert resp.status_code == 200
    event = hub.audit_events()[-1]
    assert flag(event) == (["ETREAT"], REASON)
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert event["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "ETREAT"
    (grant,) = hub.grants()
    assert (grant.employee_hsa_id, grant.patient_id, grant.reason) == (ERIK.employee_hsa_id, "anders", REASON)
    assert grant.care_provider_hsa_id == "SE2321000000-NORR" and grant.care_unit_hsa_id == "SE2321000000-VC01"
    assert (grant.expires_at - grant.granted_at).total_seconds() == 2 * 3600


def test_the_grant__keeps_access_open_and_flagged_until_it_expires(hub: GuardedHub) -> None:
    assert hub.client.get("/fhir/Patient/anders", headers=with_reason(hub)).status_code == 200
    hub.clock.advance(hours=1, minutes=59)
    tasks = hub.client.get("/fhir/Task", params={"patient": "Patient/anders"}, headers=hub.headers(ERIK))
    assert [e["resource"]["id"] for e in tasks.json()["entry"]] == ["task-anders"]
    assert flag(hub.audit_events()[-1]) == (["ETREAT"], REASON)
    hub.clock.advance(minutes=1, seconds=1)
    assert hub.client.get("/fhir/Patient/anders", headers=hub.headers(ERIK)).status_code == 404
    assert "entry" not in hub.client.get("/fhir/Task", headers=hub.headers(ERIK)).json()


def test_the_grant__opens_only_that_patient(hub: GuardedHub) -> None:
    assert hub.client.get("/fhir/Patient/anders", headers=with_reason(hub)).status_code == 200
    assert hub.client.get("/fhir/Encounter/encounter-lilly", headers=hub.headers(ERIK)).status_code == 404


def test_the_grant__is_for_reading_only(hub: GuardedHub) -> None:
    assert hub.client.get("/fhir/Task/task-anders", headers=with_reason(hub)).status_code == 200
    task = hub.world.get("Task", "task-anders")
    task.pop("meta")
    task["status"] = "in-progress"
    assert hub.client.put("/fhir/Task/task-anders", json=task, headers=with_reason(hub)).status_code == 403


def test_a_search_naming_the_patient__opens_access_too_and_one_naming_none_is_a_400(hub: GuardedHub) -> None:
    resp = hub.client.get("/fhir/Encounter", params={"patient": "Patient/anders"}, headers=with_reason(hub))
    assert [e["resource"]["id"] for e in resp.json()["entry"]] == ["encounter-anders"]
    assert flag(hub.audit_events()[-1])[0] == ["ETREAT"]
    assert hub.client.get("/fhir/Encounter", headers=with_reason(hub)).status_code == 400


def test_another_care_provider__is_never_opened_by_emergency_access(hub: GuardedHub) -> None:
    before = len(hub.audit_events())
    assert hub.client.get("/fhir/Encounter/encounter-anders", headers=with_reason(hub, MARIA)).status_code == 404
    assert hub.grants() == [] and len(hub.audit_events()) == before


@pytest.mark.parametrize(("principal", "reason"), [(ERIK, "ok"), (ERIK, "   "), (ANDERS, REASON)])
def test_emergency_access__needs_a_clinician_and_a_real_reason(hub: GuardedHub, principal: Any, reason: str) -> None:
    resp = hub.client.get("/fhir/Encounter/encounter-anders", headers=with_reason(hub, principal, reason))
    assert resp.status_code == 403
    assert hub.grants() == []


def test_access_to_the_own_units_cases__is_not_flagged_while_a_grant_is_open(hub: GuardedHub) -> None:
    with hub.engine.begin() as conn:
        for item in case_resources("tolvan", unit="vc01"):
            body = dict(item)
            hub.server.repo.create(conn, body, body.pop("id"))
    assert hub.client.get("/fhir/Patient/anders", headers=with_reason(hub)).status_code == 200
    assert hub.client.get("/fhir/Encounter/encounter-tolvan", headers=hub.headers(ERIK)).status_code == 200
    assert flag(hub.audit_events()[-1]) == ([], None)


@pytest.fixture
def short_grants(database_url: str, key_ring: Any, triage_catalog: Any) -> Iterator[GuardedHub]:
    yield from make_hub(database_url, key_ring, triage_catalog,
                        AccessSettings(anonymous_burst=UNTHROTTLED.anonymous_burst, emergency_access_minutes=30))


def test_the_grants_duration__is_configurable(short_grants: GuardedHub) -> None:
    hub = short_grants
    assert hub.client.get("/fhir/Patient/anders", headers=with_reason(hub)).status_code == 200
    hub.clock.advance(minutes=30, seconds=1)
    assert hub.client.get("/fhir/Patient/anders", headers=hub.headers(ERIK)).status_code == 404
