"""The transfer transaction: conditional creates on business identifiers, the same on every attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cases.hub_transfer import (
    ORIGIN_SYSTEM,
    CaseToTransfer,
    TransferRefused,
    check_transfer_bundle,
    rewrite_received,
    transfer_bundle,
    waiting_at,
)
from cases.principals import HSA_SYSTEM, PERSONNUMMER_SYSTEM

BASE = "https://hub-a.example/fhir"


def case(**overrides: Any) -> CaseToTransfer:
    values: dict[str, Any] = {
        "task": {"resourceType": "Task", "id": "t1", "status": "completed", "intent": "order",
                 "for": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
                 "focus": {"reference": "QuestionnaireResponse/q1"}, "owner": {"reference": "Organization/o1"},
                 "meta": {"versionId": "3"}},
        "encounter": {"resourceType": "Encounter", "id": "e1", "status": "finished",
                      "subject": {"reference": "Patient/p1"}, "serviceProvider": {"reference": "Organization/o1"},
                      "period": {"start": "2026-01-05T09:00:00Z", "end": "2026-01-05T10:00:00Z"}},
        "patient": {"resourceType": "Patient", "id": "p1",
                    "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": "191212121212"}]},
        "response": {"resourceType": "QuestionnaireResponse", "id": "q1", "status": "completed",
                     "subject": {"reference": "Patient/p1"}},
        "communications": [{"resourceType": "Communication", "id": "c1", "status": "completed",
                            "encounter": {"reference": "Encounter/e1"},
                            "sender": {"reference": "PractitionerRole/r1"}}],
        "media": [{"resourceType": "Media", "id": "m1", "status": "completed",
                   "content": {"contentType": "image/png", "url": "Binary/b1"}}],
        "binaries": [{"resourceType": "Binary", "id": "b1", "contentType": "image/png", "data": "AAAA",
                      "securityContext": {"reference": "Encounter/e1"}}],
        "describe": {"PractitionerRole/r1": {"identifier": {"system": HSA_SYSTEM, "value": "SE-P001"},
                                             "display": "Sara"}},
    }
    values.update(overrides)
    return CaseToTransfer(**values)


def entries_by_type(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["resourceType"]: e for e in bundle["entry"]}


def test_bundle__is_the_same_on_every_attempt() -> None:
    assert transfer_bundle(case(), sender_base=BASE, sender_name="A") == transfer_bundle(
        case(), sender_base=BASE, sender_name="A")


def test_bundle__every_resource_is_a_conditional_create_on_where_it_came_from() -> None:
    found = entries_by_type(transfer_bundle(case(), sender_base=BASE, sender_name="A"))

    assert found["Task"]["request"] == {"method": "POST", "url": "Task",
                                        "ifNoneExist": f"identifier={ORIGIN_SYSTEM}|{BASE}/Task/t1"}
    assert found["Patient"]["request"]["ifNoneExist"] == f"identifier={PERSONNUMMER_SYSTEM}|191212121212"
    assert found["QuestionnaireResponse"]["resource"]["identifier"] == {
        "system": ORIGIN_SYSTEM, "value": f"{BASE}/QuestionnaireResponse/q1"}
    assert "id" not in found["Task"]["resource"] and "meta" not in found["Task"]["resource"]


def test_bundle__links_between_carried_resources_become_their_entries_urns() -> None:
    found = entries_by_type(transfer_bundle(case(), sender_base=BASE, sender_name="A"))
    task = found["Task"]["resource"]

    assert task["for"]["reference"] == found["Patient"]["fullUrl"]
    assert task["encounter"]["reference"] == found["Encounter"]["fullUrl"]
    assert task["focus"]["reference"] == found["QuestionnaireResponse"]["fullUrl"]
    assert found["Media"]["resource"]["content"]["url"] == found["Binary"]["fullUrl"]
    assert found["Binary"]["request"] == {"method": "PUT", "url": f"Binary/{found['Binary']['resource']['id']}"}


def test_bundle__staff_and_units_of_the_sender_travel_as_hsa_id_and_name_only() -> None:
    found = entries_by_type(transfer_bundle(case(), sender_base=BASE, sender_name="Region Norr"))

    assert found["Communication"]["resource"]["sender"] == {
        "identifier": {"system": HSA_SYSTEM, "value": "SE-P001"}, "display": "Sara"}
    assert found["Task"]["resource"]["owner"] == {"display": "Organization vid Region Norr"}


def test_received__waits_at_the_unit_as_transferred() -> None:
    bundle = transfer_bundle(case(), sender_base=BASE, sender_name="A")
    found = entries_by_type(bundle)
    now = datetime(2026, 1, 6, 8, 0, tzinfo=UTC)

    task, encounter = waiting_at(found["Task"]["resource"], found["Encounter"]["resource"], "Organization/u9", now)

    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("ready", "transferred")
    assert task["owner"] == {"reference": "Organization/u9"}
    assert encounter is not None and encounter["status"] == "arrived"
    assert encounter["serviceProvider"] == {"reference": "Organization/u9"} and "end" not in encounter["period"]


def test_received__urns_become_the_receivers_ids_and_an_unknown_one_is_refused() -> None:
    found = entries_by_type(transfer_bundle(case(), sender_base=BASE, sender_name="A"))
    assigned = {e["fullUrl"]: f"{t}/{t.lower()}-9" for t, e in found.items()}

    task = rewrite_received(found["Task"]["resource"], assigned)
    assert task["for"] == {"reference": "Patient/patient-9"}
    media = rewrite_received(found["Media"]["resource"], assigned)
    assert media["content"]["url"] == "Binary/binary-9"
    with pytest.raises(TransferRefused, match="names no entry"):
        rewrite_received(found["Task"]["resource"], {})


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.update(type="batch"), "transaction Bundle"),
    (lambda b: b["entry"][0]["request"].pop("ifNoneExist"), "conditional create"),
    (lambda b: b["entry"].append({**b["entry"][2]}), "exactly one Task"),
    (lambda b: b["entry"].append({"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Account"},
                                  "request": {"method": "POST", "url": "Account", "ifNoneExist": "identifier=x|y"}}),
     "not Account"),
])
def test_check__refuses_what_is_not_a_transfer(change: Any, message: str) -> None:
    bundle = transfer_bundle(case(), sender_base=BASE, sender_name="A")
    change(bundle)

    with pytest.raises(TransferRefused, match=message):
        check_transfer_bundle(bundle)
