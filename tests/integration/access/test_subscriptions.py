"""A Subscription is its regional system's own: made, seen, changed and fed only within that.

Through the guarded API, on SQLite and PostgreSQL: the hub stamps the owner whatever the body
claims, another system gets a 404 for it, people cannot make one, and a notification is
queued only for a resource the owning system could read.
"""

from __future__ import annotations

from typing import Any

import pytest

from cases.principals import RegionalSystem
from fhir_api.messages import FhirRequest
from hub.access.caller import hub_caller
from hub.access.ownership import OWNER_REGION_SYSTEM, OWNER_SYSTEM
from hub.outbox import Outbox, RetryPolicy
from hub.outbox import store as outbox_store
from hub.subscriptions import register_subscriptions
from hub.subscriptions.spec import NOTIFY
from tests.integration.access.conftest import GuardedHub
from tests.integration.access.world import ANDERS, ANNA, SYSTEM_NORR, SYSTEM_SYD, ref


@pytest.fixture
def feeds(hub: GuardedHub) -> GuardedHub:
    """The guarded hub, matching writes against Subscriptions as the full hub does."""
    register_subscriptions(hub.server, Outbox(hub.engine, RetryPolicy(backoff_base=0.0)))
    return hub


def _subscription(criteria: str = "Task?status=ready", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Subscription", "status": "requested", "reason": "the region's waiting rooms",
            "criteria": criteria, "channel": {"type": "rest-hook", "endpoint": "https://ehr.example/hook",
                                              "payload": "application/fhir+json"}, **extra}


def _subscribe(hub: GuardedHub, system: RegionalSystem, **extra: Any) -> str:
    resp = hub.client.post("/fhir/Subscription", json=_subscription(**extra), headers=hub.headers(system))
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["id"]
    return sid


def _as_hub(hub: GuardedHub, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Write as the hub's own workflows do (intake, transfers): unguarded, through the write listeners."""
    req = FhirRequest.from_url(method, path, body=body)
    req.caller = hub_caller()
    resp = hub.server.handle(req)
    assert resp.status in (200, 201), resp.body
    written: dict[str, Any] = resp.json()
    return written


def _notified(hub: GuardedHub, sid: str) -> list[str]:
    """Return the `Type/id` of every notification queued for the Subscription."""
    with hub.engine.connect() as conn:
        rows = outbox_store.find(conn, kind=NOTIFY, key_prefix=f"Subscription/{sid}/", limit=100)
    return sorted("/".join(r.key.split("/")[2:4]) for r in rows)  # Subscription/<sid>/<Type>/<id>/_history/<v>


def _owner_tags(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((t["system"], t["code"]) for t in resource.get("meta", {}).get("tag", [])
                  if t["system"] in (OWNER_SYSTEM, OWNER_REGION_SYSTEM))


def test_subscription__the_hub_records_the_system_that_made_it_not_the_owner_the_body_claims(
        feeds: GuardedHub) -> None:
    claimed = {"meta": {"tag": [{"system": OWNER_SYSTEM, "code": SYSTEM_SYD.client_id},
                                {"system": "urn:other", "code": "kept"}]}}
    sid = _subscribe(feeds, SYSTEM_NORR, **claimed)
    stored = feeds.client.get(f"/fhir/Subscription/{sid}", headers=feeds.headers(SYSTEM_NORR)).json()
    assert _owner_tags(stored) == [(OWNER_SYSTEM, SYSTEM_NORR.client_id), (OWNER_REGION_SYSTEM, SYSTEM_NORR.region)]
    assert {"system": "urn:other", "code": "kept"} in stored["meta"]["tag"]
    stored["meta"] = {"tag": []}  # an update that drops the mark keeps it all the same
    resp = feeds.client.put(f"/fhir/Subscription/{sid}", json=stored, headers=feeds.headers(SYSTEM_NORR))
    assert resp.status_code == 200, resp.text
    assert _owner_tags(resp.json())[0] == (OWNER_SYSTEM, SYSTEM_NORR.client_id)
    patch = [{"op": "remove", "path": "/meta/tag/0"}]
    resp = feeds.client.patch(f"/fhir/Subscription/{sid}", json=patch,
                              headers=feeds.headers(SYSTEM_NORR, **{"Content-Type": "application/json-patch+json"}))
    assert resp.status_code == 403, resp.text


def test_subscription__each_system_is_notified_of_its_own_regions_tasks_only(feeds: GuardedHub) -> None:
    norr = _subscribe(feeds, SYSTEM_NORR)
    syd = _subscribe(feeds, SYSTEM_SYD)
    task = feeds.world.get("Task", "task-anders")  # a case at Digitala mottagningen Norr
    task["note"] = [{"text": "Ringer tillbaka"}]
    _as_hub(feeds, "PUT", "Task/task-anders", task)
    southern = _as_hub(feeds, "POST", "Task", {"resourceType": "Task", "status": "ready", "intent": "order",
                                              "for": ref("Patient", "tolvan"), "owner": ref("Organization", "vc02")})
    _as_hub(feeds, "POST", "Task", {"resourceType": "Task", "status": "draft", "intent": "order",
                                    "for": ref("Patient", "teo"), "owner": ref("Organization", "dig1")})
    assert _notified(feeds, norr) == ["Task/task-anders"]
    assert _notified(feeds, syd) == [f"Task/{southern['id']}"]


def test_subscription__another_system_can_neither_see_change_nor_delete_it(feeds: GuardedHub) -> None:
    sid = _subscribe(feeds, SYSTEM_NORR)
    mine = feeds.client.get(f"/fhir/Subscription/{sid}", headers=feeds.headers(SYSTEM_NORR))
    assert mine.status_code == 200
    other = feeds.headers(SYSTEM_SYD)
    assert feeds.client.get(f"/fhir/Subscription/{sid}", headers=other).status_code == 404
    assert feeds.client.put(f"/fhir/Subscription/{sid}", json=mine.json(), headers=other).status_code == 404
    assert feeds.client.delete(f"/fhir/Subscription/{sid}", headers=other).status_code == 404
    assert feeds.client.post(f"/fhir/Subscription/{sid}/$replay", json={"resourceType": "Parameters"},
                             headers=other).status_code == 404
    found = feeds.client.get("/fhir/Subscription?_total=accurate", headers=other).json()
    assert found["total"] == 0 and not found.get("entry")
    own = feeds.client.get("/fhir/Subscription", headers=feeds.headers(SYSTEM_NORR)).json()
    assert [e["resource"]["id"] for e in own["entry"]] == [sid]
    assert feeds.client.delete(f"/fhir/Subscription/{sid}", headers=feeds.headers(SYSTEM_NORR)).status_code in (
        200, 204)
    assert feeds.count("Subscription") == 0


@pytest.mark.parametrize("person", [ANDERS, ANNA], ids=["citizen", "clinician"])
def test_subscription__a_person_can_neither_make_nor_read_one(feeds: GuardedHub, person: Any) -> None:
    sid = _subscribe(feeds, SYSTEM_NORR)
    resp = feeds.client.post("/fhir/Subscription", json=_subscription(), headers=feeds.headers(person))
    assert resp.status_code == 403, resp.text
    assert "region's system" in resp.json()["issue"][0]["diagnostics"]
    assert feeds.client.get(f"/fhir/Subscription/{sid}", headers=feeds.headers(person)).status_code == 403
    assert feeds.count("Subscription") == 1


def test_subscription__criteria_on_a_type_the_token_may_not_read_are_refused(feeds: GuardedHub) -> None:
    token = feeds.token(SYSTEM_NORR, scope="system/Subscription.cruds system/Encounter.rs")
    resp = feeds.client.post("/fhir/Subscription", json=_subscription(),
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403, resp.text
    assert feeds.count("Subscription") == 0
