"""Anonymous callers reach the stateless assessment and public conformance resources, throttled, storing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from fhir_api.store.schema import resources
from hub.access import AccessSettings
from hub.access.ratelimit import TokenBuckets, retry_after
from tests.integration.access.conftest import GuardedHub, make_hub
from tests.integration.access.world import ANNA

START = {"resourceType": "QuestionnaireResponse", "status": "in-progress"}


class Ticks:
    """A monotonic clock the tests move."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def stored_rows(hub: GuardedHub) -> int:
    with hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(resources)).scalar_one())


def test_the_anonymous_assessment__answers_and_stores_nothing(hub: GuardedHub) -> None:
    before = stored_rows(hub)
    resp = hub.client.post("/fhir/Questionnaire/$next-question", json=START)
    assert resp.status_code == 200, resp.text
    assert resp.json()["resourceType"] == "QuestionnaireResponse"
    assert stored_rows(hub) == before


def test_the_assessment_with_a_subject__needs_a_login(hub: GuardedHub) -> None:
    resp = hub.client.post("/fhir/Questionnaire/$next-question", json={**START, "subject": {"reference":
                                                                                              "Patient/anders"}})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["metadata", "Questionnaire/cough", "Questionnaire?status=active",
                                  "CodeSystem", "ValueSet", "SearchParameter", "StructureDefinition",
                                  "OperationDefinition", "CapabilityStatement"])
def test_public_conformance_resources__are_open_to_anyone(hub: GuardedHub, path: str) -> None:
    assert hub.client.get(f"/fhir/{path}").status_code == 200


@pytest.mark.parametrize("path", ["Patient/anders", "Encounter?status=arrived", "Organization/dig1", "_history",
                                  "?_type=Patient", "Patient/anders/_history", "Patient/$validate"])
def test_everything_else__asks_for_a_login_without_saying_whether_it_exists(hub: GuardedHub, path: str) -> None:
    resp = hub.client.get(f"/fhir/{path}")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Bearer realm="ingang"'


@pytest.mark.parametrize(("method", "path"), [("POST", "QuestionnaireResponse"), ("POST", "Questionnaire"),
                                              ("PUT", "Questionnaire/cough"), ("DELETE", "Questionnaire/cough"),
                                              ("POST", "")])
def test_anonymous_writes__are_refused(hub: GuardedHub, method: str, path: str) -> None:
    body = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": START, "request": {"method": "POST", "url": "QuestionnaireResponse"}}]} if not path else (
        hub.world.get("Questionnaire", "cough") if "cough" in path else {**START, "resourceType": path})
    before = stored_rows(hub)
    resp = hub.client.request(method, f"/fhir/{path}".rstrip("/"), json=body)
    outcome = resp.json()["entry"][0]["response"]["status"] if not path else str(resp.status_code)
    assert outcome.startswith("401")
    assert stored_rows(hub) == before


@pytest.fixture
def throttled(sqlite_url: str, key_ring: Any, triage_catalog: Any) -> Iterator[GuardedHub]:
    """A hub behind one proxy that lets an address make 3 requests at once and 60 a minute."""
    settings = AccessSettings(anonymous_burst=3, anonymous_rate_per_minute=60, forwarded_hops=1)
    yield from make_hub(sqlite_url, key_ring, triage_catalog, settings)


def test_the_rate_limit__throttles_one_address_with_429_and_retry_after(throttled: GuardedHub) -> None:
    ticks = Ticks()
    throttled.guard.buckets = TokenBuckets(60, 3, clock=ticks)
    client = throttled.client

    def get(address: str) -> Any:
        return client.get("/fhir/Questionnaire/cough", headers={"X-Forwarded-For": address})

    assert [get("203.0.113.5").status_code for _ in range(3)] == [200, 200, 200]
    refused = get("203.0.113.5")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.json()["issue"][0]["code"] == "throttled"
    assert get("198.51.100.7").status_code == 200  # another address has its own bucket
    assert client.get("/fhir/Organization/dig1", headers={"X-Forwarded-For": "203.0.113.5",
                                                          **throttled.headers(ANNA)}).status_code == 200
    ticks.t += 1.0
    assert get("203.0.113.5").status_code == 200


def test_the_rate_limit__keys_on_the_address_the_trusted_proxy_saw_not_what_the_client_claims(
        throttled: GuardedHub) -> None:
    throttled.guard.buckets = TokenBuckets(60, 1, clock=Ticks())
    first = throttled.client.get("/fhir/metadata", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.5"})
    spoofed = throttled.client.get("/fhir/metadata", headers={"X-Forwarded-For": "2.2.2.2, 203.0.113.5"})
    assert (first.status_code, spoofed.status_code) == (200, 429)


def test_token_buckets__refill_at_the_rate_and_never_hold_more_than_the_burst() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(rate_per_minute=30, burst=2, clock=ticks)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(2.0)
    ticks.t += 600
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") > 0
    assert retry_after(0.2) == "1" and retry_after(2.1) == "3"


def test_token_buckets__forget_idle_addresses_so_memory_stays_bounded() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(rate_per_minute=60, burst=5, clock=ticks, max_keys=10)
    for n in range(10):
        buckets.take(f"10.0.0.{n}")
    ticks.t += 60
    buckets.take("10.0.1.1")
    assert len(buckets._buckets) == 1
    for n in range(25):
        buckets.take(f"10.0.2.{n}")
    assert len(buckets._buckets) <= 10
