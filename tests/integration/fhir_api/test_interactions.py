"""The RESTful interactions, as a regional EHR would use them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
PNR = "http://electronichealth.se/identifier/personnummer"


def patient(pnr: str = "191212121212", family: str = "Tolvansson", **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PNR, "value": pnr}],
        "name": [{"family": family, "given": ["Tolvan"]}],
        "birthDate": "1912-12-12",
        **extra,
    }


def create(client: TestClient, resource: dict[str, object]) -> dict[str, object]:
    r = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def issue_codes(body: dict[str, object]) -> list[str]:
    assert body["resourceType"] == "OperationOutcome"
    return [i["code"] for i in body["issue"]]  # type: ignore[index, union-attr]


def test_create__assigns_id_version_and_location(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON)
    assert r.status_code == 201
    body = r.json()
    assert body["meta"]["versionId"] == "1"
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"] == f"http://hub.test/fhir/Patient/{body['id']}/_history/1"
    assert "Last-Modified" in r.headers
    assert r.headers["content-type"].startswith("application/fhir+json")


def test_read__returns_what_was_created(client: TestClient) -> None:
    created = create(client, patient())
    r = client.get(f"/fhir/Patient/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["ETag"] == 'W/"1"'


def test_read__unknown_id_is_404_with_outcome(client: TestClient) -> None:
    r = client.get("/fhir/Patient/nope")
    assert r.status_code == 404
    assert issue_codes(r.json()) == ["not-found"]


def test_read__unknown_type_is_404(client: TestClient) -> None:
    r = client.get("/fhir/Patientt/1")
    assert r.status_code == 404
    assert issue_codes(r.json()) == ["not-supported"]


def test_update__makes_a_new_version_and_keeps_the_old(client: TestClient) -> None:
    created = create(client, patient())
    changed = {**created, "name": [{"family": "Andersson"}]}
    r = client.put(f"/fhir/Patient/{created['id']}", json=changed, headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    old = client.get(f"/fhir/Patient/{created['id']}/_history/1").json()
    assert old["name"][0]["family"] == "Tolvansson"
    assert client.get(f"/fhir/Patient/{created['id']}").json()["name"][0]["family"] == "Andersson"


def test_update__stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    created = create(client, patient())
    url = f"/fhir/Patient/{created['id']}"
    ok = client.put(url, json={**created, "gender": "male"}, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.put(url, json={**created, "gender": "female"}, headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert client.get(url).json()["gender"] == "male"


def test_update__with_client_id_creates(client: TestClient) -> None:
    r = client.put("/fhir/Patient/tolvan", json={**patient(), "id": "tolvan"}, headers=FHIR_JSON)
    assert r.status_code == 201
    assert client.get("/fhir/Patient/tolvan").status_code == 200


def test_update__id_in_body_contradicting_url_is_400(client: TestClient) -> None:
    r = client.put("/fhir/Patient/a", json={**patient(), "id": "b"}, headers=FHIR_JSON)
    assert r.status_code == 400
    assert "does not match" in r.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Patient/a").status_code == 404


def test_create__malformed_json_is_400_naming_the_position(client: TestClient) -> None:
    r = client.post("/fhir/Patient", content=b'{"resourceType": "Patient",', headers=FHIR_JSON)
    assert r.status_code == 400
    assert "line 1" in r.json()["issue"][0]["diagnostics"]


def test_create__wrong_resource_type_is_400(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json={"resourceType": "Observation"}, headers=FHIR_JSON)
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["resourceType"]


def test_create__invalid_content_is_422_naming_the_element(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json={**patient(), "birthDate": "1912-13-45"}, headers=FHIR_JSON)
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    assert client.get("/fhir/Patient").json().get("total", 0) == 0


def test_create__unsupported_content_type_is_415(client: TestClient) -> None:
    r = client.post("/fhir/Patient", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_delete__then_read_is_410_and_history_keeps_it(client: TestClient) -> None:
    created = create(client, patient())
    url = f"/fhir/Patient/{created['id']}"
    assert client.delete(url).status_code == 200
    assert client.get(url).status_code == 410
    history = client.get(f"{url}/_history").json()
    methods = [e["request"]["method"] for e in history["entry"]]
    assert methods == ["DELETE", "POST"]
    assert client.delete(url).status_code == 204


def test_method_not_allowed_on_history_is_405(client: TestClient) -> None:
    assert client.post("/fhir/Patient/_history", json={}).status_code == 405


def test_prefer_minimal_returns_no_body(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=minimal"})
    assert r.status_code == 201
    assert r.content == b""
    assert r.headers["Location"]


def test_prefer_operation_outcome_returns_an_outcome(client: TestClient) -> None:
    r = client.post("/fhir/Patient", json=patient(), headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"})
    assert r.json()["resourceType"] == "OperationOutcome"


def test_conditional_create__returns_the_existing_match(client: TestClient) -> None:
    first = create(client, patient())
    headers = {**FHIR_JSON, "If-None-Exist": f"identifier={PNR}|191212121212"}
    r = client.post("/fhir/Patient", json=patient(), headers=headers)
    assert r.status_code == 200
    assert r.json()["id"] == first["id"]


def test_conditional_update__creates_then_updates_the_match(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={PNR}|191212121212"
    assert client.put(url, json=patient(), headers=FHIR_JSON).status_code == 201
    r = client.put(url, json=patient(family="Ny"), headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"


def test_conditional_update__several_matches_is_412(client: TestClient) -> None:
    create(client, patient())
    create(client, patient())
    r = client.put(f"/fhir/Patient?identifier={PNR}|191212121212", json=patient(), headers=FHIR_JSON)
    assert r.status_code == 412


def test_conditional_delete__removes_the_one_match(client: TestClient) -> None:
    created = create(client, patient())
    r = client.delete(f"/fhir/Patient?identifier={PNR}|191212121212")
    assert r.status_code == 200
    assert client.get(f"/fhir/Patient/{created['id']}").status_code == 410


def test_patch__json_patch_makes_a_new_version(client: TestClient) -> None:
    created = create(client, patient())
    ops = [{"op": "replace", "path": "/birthDate", "value": "1913-01-01"}]
    r = client.patch(f"/fhir/Patient/{created['id']}", content=json.dumps(ops),
                     headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["birthDate"] == "1913-01-01"
    assert r.json()["meta"]["versionId"] == "2"


def test_patch__that_breaks_the_resource_is_422_and_changes_nothing(client: TestClient) -> None:
    created = create(client, patient())
    ops = [{"op": "replace", "path": "/birthDate", "value": "yesterday"}]
    r = client.patch(f"/fhir/Patient/{created['id']}", content=json.dumps(ops),
                     headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 422
    assert client.get(f"/fhir/Patient/{created['id']}").json()["meta"]["versionId"] == "1"


def test_history__type_and_system_level_list_every_version(client: TestClient) -> None:
    created = create(client, patient())
    client.put(f"/fhir/Patient/{created['id']}", json={**created, "gender": "male"}, headers=FHIR_JSON)
    create(client, {"resourceType": "Organization", "name": "Vårdcentralen"})
    assert len(client.get("/fhir/Patient/_history").json()["entry"]) == 2
    system = client.get("/fhir/_history?_count=3").json()
    assert [e["request"]["method"] for e in system["entry"]] == ["POST", "PUT", "POST"]
    assert [e["resource"]["resourceType"] for e in system["entry"]] == ["Organization", "Patient", "Patient"]


def test_history__pages_with_next_links(client: TestClient) -> None:
    for n in range(5):
        create(client, patient(pnr=f"19121212{n:04d}"))
    seen: list[str] = []
    url: str | None = "/fhir/Patient/_history?_count=2"
    while url:
        page = client.get(url).json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == 5 and len(set(seen)) == 5


def test_metadata__lists_types_interactions_and_search_parameters(client: TestClient) -> None:
    cs = client.get("/fhir/metadata").json()
    assert cs["fhirVersion"] == "4.0.1"
    rest = cs["rest"][0]
    patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
    names = {p["name"] for p in patient_entry["searchParam"]}
    assert {"identifier", "birthdate", "name", "_id", "_lastUpdated"} <= names
    assert {"transaction", "batch"} <= {i["code"] for i in rest["interaction"]}
    assert "validate" in {o["name"] for o in patient_entry.get("operation", [])}


def test_validate__reports_problems_without_storing(client: TestClient) -> None:
    r = client.post("/fhir/Patient/$validate", json={**patient(), "birthDate": "sometime"}, headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["issue"][0]["severity"] == "error"
    ok = client.post("/fhir/Patient/$validate", json=patient(), headers=FHIR_JSON)
    assert ok.json()["issue"][0]["severity"] == "information"
    assert client.get("/fhir/Patient").json().get("total", 0) == 0


def test_xml__create_and_read_in_xml(client: TestClient) -> None:
    xml = (b'<Patient xmlns="http://hl7.org/fhir"><name><family value="Xml"/></name>'
           b'<birthDate value="2001-02-03"/></Patient>')
    r = client.post("/fhir/Patient", content=xml,
                    headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/fhir+xml")
    assert b'<family value="Xml"/>' in r.content
    pid = r.headers["Location"].split("/")[-3]
    assert client.get(f"/fhir/Patient/{pid}?_format=json").json()["birthDate"] == "2001-02-03"


def test_xml__malformed_is_400(client: TestClient) -> None:
    r = client.post("/fhir/Patient", content=b"<Patient xmlns=", headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 400


def test_xml__search_bundle_renders_in_xml(client: TestClient) -> None:
    create(client, patient())
    r = client.get("/fhir/Patient?_format=xml")
    assert r.status_code == 200, r.text
    assert b"<Bundle" in r.content and b"<Patient" in r.content
