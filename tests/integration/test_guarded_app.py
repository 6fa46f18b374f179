"""The hub as `create_app` builds it: tokens required, patient data filtered, anonymous triage open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.idp.tokens import Scopes
from cases.principals import Citizen
from hub.app import create_app
from tests.conftest import hub_settings

PNR = "http://electronichealth.se/identifier/personnummer"


@pytest.fixture
def app_client(database_url: str) -> Iterator[TestClient]:
    app = create_app(hub_settings(database_url, access_control=True, demo_data=True))
    with TestClient(app, base_url="http://hub.test") as client:
        yield client


def bearer(client: TestClient, principal: Any, scope: str) -> dict[str, str]:
    tokens = client.app.state.auth.tokens  # type: ignore[attr-defined]
    issued = tokens.issue(principal, Scopes.parse(scope), client_id="test", now=datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.token}"}


def test_guarded__patient_data_without_a_token_is_401(app_client: TestClient) -> None:
    r = app_client.get("/fhir/Patient")
    assert r.status_code == 401
    assert r.json()["resourceType"] == "OperationOutcome"


def test_guarded__metadata_and_anonymous_triage_stay_open(app_client: TestClient) -> None:
    assert app_client.get("/fhir/metadata").status_code == 200
    r = app_client.post("/fhir/Questionnaire/$next-question",
                        json={"resourceType": "QuestionnaireResponse", "status": "in-progress"})
    assert r.status_code == 200 and r.json()["status"] == "in-progress"


def test_guarded__a_citizen_sees_only_themselves(app_client: TestClient) -> None:
    headers = bearer(app_client, Citizen("191212121212", "Tolvan", "Tolvansson"), "patient/*.rs user/*.rs openid")
    r = app_client.get("/fhir/Patient", headers=headers)
    assert r.status_code == 200, r.text
    ids = [e["resource"]["identifier"][0]["value"] for e in r.json().get("entry", [])
           if e["search"]["mode"] == "match"]
    assert ids == ["191212121212"]
