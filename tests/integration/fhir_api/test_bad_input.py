"""Bad input and unexpected failures end in an OperationOutcome, never the framework's 500.

Each case here once gave a 500 (or plain text): a control character that PostgreSQL or XML
refuses, numbers and instants past what the store holds, a batch entry that crashes, an
error response the XML writer cannot write.
https://hl7.org/fhir/R4/http.html#Status-Codes
"""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from fhir_api.formats import FormatError
from fhir_api.messages import FhirRequest, FhirResponse
from fhir_api.server import Operation

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def outcome_of(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("application/fhir+json")  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    return body


def count(client: TestClient, res_type: str) -> int:
    return int(client.get(f"/fhir/{res_type}?_summary=count").json()["total"])


def fail_unexpectedly(_conn: object, _req: FhirRequest, _t: str | None, _i: str | None) -> FhirResponse:
    raise RuntimeError("patient 191212121212 broke something")


@pytest.fixture
def crashing(client: TestClient) -> TestClient:
    client.app.state.hub.fhir.add_operation(  # type: ignore[attr-defined]
        Operation("crash", fail_unexpectedly, type_level=False, system_level=True, writes=True, idempotent=False))
    return client


def test_batch__an_entry_that_crashes_is_its_own_500_and_the_batch_goes_on(
        crashing: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    patient = {"resourceType": "Patient", "gender": "female"}
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "POST", "url": "$crash"}, "resource": {"resourceType": "Parameters"}},
        {"resource": patient, "request": {"method": "POST", "url": "Patient"}},
    ]}

    with caplog.at_level(logging.ERROR, logger="ingang.fhir"):
        r = crashing.post("/fhir", json=bundle, headers=FHIR_JSON)

    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "500", "201"]
    diagnostics = entries[1]["response"]["outcome"]["issue"][0]["diagnostics"]
    assert "Correlation id" in diagnostics and "191212121212" not in r.text
    correlation = diagnostics.rsplit(" ", 1)[-1]
    assert any(correlation in rec.getMessage() for rec in caplog.records)
    assert count(crashing, "Patient") == 2


def test_error_response__that_cannot_be_written_as_xml_is_a_json_500_outcome(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise FormatError("the writer cannot write this", "OperationOutcome")

    monkeypatch.setattr("fhir_api.formats.xml.json_to_xml", refuse)

    r = client.get("/fhir/Patient/missing?_format=xml")

    body = outcome_of(r, 500)
    assert "Correlation id" in body["issue"][0]["diagnostics"]  # type: ignore[index]
    assert "writer" not in r.text


@pytest.mark.parametrize("path", [
    "/fhir/Patient/a%00b", "/fhir/Patient/a%01b?_format=xml", "/fhir/Patient?name=%00",
    "/fhir/Patient?identifier=%00|x", "/fhir/Observation?subject=Patient/%00", "/fhir/Patient?_tag=%00",
])
def test_url__with_a_control_character_is_400(client: TestClient, path: str) -> None:
    r = client.get(path)

    assert r.status_code == 400, r.text
    assert "control character" in r.text


@pytest.mark.parametrize("text", ["a\u0000b", "bell\u0007", "form\u000cfeed"])
def test_create__a_string_with_a_control_character_is_400_naming_the_element(client: TestClient, text: str) -> None:
    r = client.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"text": text}]}, headers=FHIR_JSON)

    body = outcome_of(r, 400)
    assert body["issue"][0]["expression"] == ["name[0].text"]  # type: ignore[index]
    assert count(client, "Patient") == 0


def test_create__tabs_and_line_breaks_in_strings_are_fine(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json={"resourceType": "Patient", "name": [{"text": "a\tb\r\nc"}]},
                    headers=FHIR_JSON)

    assert r.status_code == 201, r.text


def test_conditional_create__with_a_nul_in_its_condition_is_400(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json={"resourceType": "Patient"},
                    headers={**FHIR_JSON, "If-None-Exist": "identifier=%00"})

    outcome_of(r, 400)


def test_vread__of_a_version_past_any_stored_is_404(client: TestClient) -> None:
    client.put("/fhir/Patient/p1", json={"resourceType": "Patient", "id": "p1"}, headers=FHIR_JSON)

    outcome_of(client.get("/fhir/Patient/p1/_history/99999999999999999999"), 404)


def test_history__since_an_instant_before_year_one_in_utc_is_400(client: TestClient) -> None:
    r = client.get("/fhir/_history", params={"_since": "0001-01-01T00:00:00+14:00"})

    assert outcome_of(r, 400)["issue"][0]["expression"] == ["_since"]  # type: ignore[index]


def test_batch__an_entry_url_that_is_no_url_is_400_in_that_entry(client: TestClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": "http://[::1/Patient"}}]}

    r = client.post("/fhir", json=bundle, headers=FHIR_JSON)

    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"].startswith("400")
