"""The region's statistics API over a known set of cases, on SQLite and PostgreSQL.

The expected figures are worked out by hand from tests/integration/statistics/dataset.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from adapters.idp.tokens import AccessTokens, KeyRing, Scopes
from cases.principals import Clinician, Commission, Principal, RegionalSystem
from fhir_api.indexing import index_rows
from fhir_api.searchparams import SearchParamRegistry
from fhir_api.store.repository import ResourceRepository
from hub import database
from hub.statistics import StatisticsApi
from tests.conftest import hub_settings
from tests.integration.statistics.dataset import NORR, SYD, at, write_dataset
from triage.vocabulary import load_vocabulary

NOW = at("2025-03-10T12:00")
URL = f"/api/regions/{NORR}/statistics"
DAYS = {"from": "2025-03-03", "to": "2025-03-05"}
ADMIN = Clinician("SE2321000000-A001", Commission("SE2321000000-A001-stat", "SE2321000000-VC01", NORR,
                                                  purpose="Administration", rights=("Statistik;Alla;Alla",)))
NURSE = Clinician("SE2321000000-P001", Commission("SE2321000000-P001-dig1", "SE2321000000-DIG1", NORR,
                                                  rights=("Läsa;Alla;Alla",)))
ADMIN_SYD = Clinician("SE2321000000-A002", Commission("SE2321000000-A002-stat", "SE2321000000-VC02", SYD,
                                                      rights=("Statistik;Alla;Alla",)))
SYSTEM_NORR = RegionalSystem("stats-norr", NORR)
SYSTEM_SYD = RegionalSystem("stats-syd", SYD)


@dataclass
class StatsHub:
    client: TestClient
    tokens: AccessTokens

    def get(self, principal: Principal | None, url: str = URL, scope: str = "", **params: str) -> object:
        headers = {}
        if principal is not None:
            scope = scope or ("system/Task.rs" if isinstance(principal, RegionalSystem) else "user/*.rs")
            token = self.tokens.issue(principal, Scopes.parse(scope), client_id="test", now=NOW,
                                      ttl=timedelta(hours=1)).token
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get(url, params=params or DAYS, headers=headers)


@pytest.fixture(scope="module")
def key_ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def stats(database_url: str, key_ring: KeyRing) -> Iterator[StatsHub]:
    engine = database.make_engine(hub_settings(database_url))
    registry = SearchParamRegistry.load()
    repo = ResourceRepository(indexer=lambda resource: index_rows(resource, registry))
    with engine.begin() as conn:
        write_dataset(conn, repo)
    tokens = AccessTokens(key_ring, issuer="http://hub.test", audience="http://hub.test/fhir")
    app = FastAPI()
    app.router.routes.extend(StatisticsApi(engine, tokens, now=lambda: NOW).routes())
    with TestClient(app, base_url="http://hub.test") as client:
        yield StatsHub(client, tokens)
    engine.dispose()


def test_statistics__counts_the_regions_own_cases_per_swedish_day(stats: StatsHub) -> None:
    response = stats.get(ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["region"], body["from"], body["to"], body["cases"]) == (NORR, "2025-03-03", "2025-03-05", 6)
    assert body["casesPerDay"] == [
        {"date": "2025-03-03", "disposition": "urgent", "count": 1},
        {"date": "2025-03-03", "disposition": "within-24h", "count": 2},
        {"date": "2025-03-04", "disposition": "self-care", "count": 1},
        {"date": "2025-03-04", "disposition": "within-24h", "count": 1},
        {"date": "2025-03-04", "disposition": "within-week", "count": 1},
    ]
    assert body["complaints"] == {"complaint-cough": 2, "complaint-fever": 2, "complaint-sore-throat": 2}
    assert {"date": "2025-03-03", "complaint": "complaint-fever", "count": 2} in body["casesPerDayByComplaint"]


def test_statistics__names_each_complaint_as_the_triage_does_in_both_languages(stats: StatsHub) -> None:
    names = stats.get(ADMIN).json()["complaintNames"]
    complaints = load_vocabulary().complaints
    assert set(names) == {"complaint-cough", "complaint-fever", "complaint-sore-throat"}
    assert names["complaint-fever"] == {"sv": complaints["complaint-fever"].sv, "en": complaints["complaint-fever"].en}


def test_statistics__self_care_share_counts_cases_without_a_unit_by_the_patients_region(stats: StatsHub) -> None:
    body = stats.get(ADMIN).json()
    assert body["selfCare"] == {"cases": 1, "share": round(1 / 6, 4)}


def test_statistics__waiting_times_are_to_the_first_claim_at_the_unit_that_claimed(stats: StatsHub) -> None:
    waits = {row["unit"]: row for row in stats.get(ADMIN).json()["waitingTimes"]}
    # dig1: 10, 20, 30, 60 (first claim of t3) and 40 (t10, moved here from Syd).
    assert waits["dig1"]["claimed"] == 5
    assert (waits["dig1"]["medianMinutes"], waits["dig1"]["p90Minutes"]) == (30.0, 60.0)
    assert (waits["vc01"]["claimed"], waits["vc01"]["waitingNow"], waits["vc01"]["medianMinutes"]) == (0, 1, None)
    assert waits["dig1"]["unitName"] == "Digitala mottagningen Norr"


def test_statistics__claims_per_clinician_count_every_claim_including_a_second_one(stats: StatsHub) -> None:
    claims = stats.get(ADMIN).json()["claims"]
    assert [(c["practitionerRole"], c["name"], c["claims"]) for c in claims] == [
        ("anna-dig1", "Anna Lind", 3), ("erik-dig1", "Erik Berg", 3)]


def test_statistics__other_region_sees_only_its_own_cases(stats: StatsHub) -> None:
    body = stats.get(SYSTEM_SYD, url=f"/api/regions/{SYD}/statistics").json()
    assert (body["cases"], body["dispositions"]) == (2, {"within-24h": 2})
    # t10 was claimed in Norr: no claims here, and only t7 still waits at vc02.
    assert body["claims"] == []
    assert [(w["unit"], w["claimed"], w["waitingNow"]) for w in body["waitingTimes"]] == [("vc02", 0, 1)]


def test_statistics_csv__holds_the_same_figures_as_a_download(stats: StatsHub) -> None:
    response = stats.get(SYSTEM_NORR, url=f"{URL}.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_figure = {(r["figure"], r["date"], r["key"]): r["value"] for r in rows}
    assert by_figure[("cases_by_disposition", "2025-03-03", "within-24h")] == "2"
    assert by_figure[("waiting_p90_minutes", "", "dig1")] == "60.0"
    assert by_figure[("claims", "", "anna-dig1")] == "3"
    assert by_figure[("self_care_share", "", "")] == str(round(1 / 6, 4))


@pytest.mark.parametrize(("principal", "scope", "status"), [
    (None, "", 401),
    (NURSE, "", 403),  # the region's clinician without the statistics right
    (ADMIN_SYD, "", 403),  # the right, but in another region
    (SYSTEM_SYD, "", 403),
    (SYSTEM_NORR, "system/Patient.rs", 403),  # the region's system, without a scope for Tasks
])
def test_statistics__refuses_callers_who_are_not_the_regions_readers(
        stats: StatsHub, principal: Principal | None, scope: str, status: int) -> None:
    response = stats.get(principal, scope=scope)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(("params", "where"), [
    ({"from": "3 March", "to": "2025-03-05"}, "from"),
    ({"from": "2025-03-06", "to": "2025-03-05"}, "from"),
    ({"from": "2024-01-01", "to": "2025-03-05"}, "from"),
])
def test_statistics__bad_days_get_an_outcome_naming_the_parameter(
        stats: StatsHub, params: dict[str, str], where: str) -> None:
    response = stats.get(ADMIN, **params)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == [where]


def test_statistics__unknown_region_is_not_found(stats: StatsHub) -> None:
    system = RegionalSystem("stats-x", "SE2321000000-XXXX")
    response = stats.get(system, url="/api/regions/SE2321000000-XXXX/statistics")
    assert response.status_code == 404
