"""What FHIR clients rely on beyond the client libraries: XML, conditional reads and creates, over a socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fhir_api.formats.xml import json_to_xml, xml_to_json
from tests.e2e.conftest import RunningHub
from tests.e2e.resources import PNR, patient_data

pytestmark = pytest.mark.e2e

XML = "application/fhir+xml"
JSON = "application/fhir+json"


@pytest.fixture
def http(running_hub: RunningHub) -> Iterator[httpx.Client]:
    """Return an HTTP client with the FHIR base as its base URL."""
    with httpx.Client(base_url=running_hub.fhir_base + "/", timeout=30) as client:
        yield client


def test_http__a_patient_posted_as_xml_reads_back_the_same_as_xml(http: httpx.Client, tag: str) -> None:
    sent = {"resourceType": "Patient", **patient_data(tag)}
    created = http.post("Patient", content=json_to_xml(sent), headers={"Content-Type": XML, "Accept": XML})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"].startswith(XML)
    patient_id = xml_to_json(created.content)["id"]
    read = http.get(f"Patient/{patient_id}", headers={"Accept": XML})
    assert read.headers["content-type"].startswith(XML)
    back = xml_to_json(read.content)
    assert {k: v for k, v in back.items() if k not in ("id", "meta")} == sent
    assert http.get(f"Patient/{patient_id}", params={"_format": "json"}).json()["id"] == patient_id


def test_http__an_error_asked_for_as_xml_is_an_operation_outcome_in_xml(http: httpx.Client, tag: str) -> None:
    missing = http.get(f"Patient/never-{tag}", headers={"Accept": XML})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(XML)
    assert xml_to_json(missing.content)["resourceType"] == "OperationOutcome"


def test_http__a_read_with_the_current_etag_is_304_not_modified(http: httpx.Client, tag: str) -> None:
    created = http.post("Patient", json={"resourceType": "Patient", **patient_data(tag)},
                        headers={"Content-Type": JSON})
    url = f"Patient/{created.json()['id']}"
    assert created.headers["ETag"] == 'W/"1"'
    assert http.get(url, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert http.get(url, headers={"If-None-Match": 'W/"0"'}).status_code == 200


def test_http__a_conditional_create_returns_the_match_instead_of_a_duplicate(http: httpx.Client, tag: str) -> None:
    body = {"resourceType": "Patient", **patient_data(tag)}
    condition = {"If-None-Exist": f"identifier={PNR}|{tag}-0", "Content-Type": JSON}
    first = http.post("Patient", json=body, headers=condition)
    second = http.post("Patient", json=body, headers=condition)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    matches = http.get("Patient", params={"identifier": f"{PNR}|{tag}-0"}).json()
    assert matches["total"] == 1
