"""Photos attached to a case through the hub, with access control on: who may, what is stored, what is refused."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from starlette.testclient import TestClient

from adapters.idp.tokens import Scopes
from cases.lifecycle import State, put_task_in
from communication.image_resources import THUMBNAIL_EXTENSION
from fhir_api.store.schema import resources
from hub.app import create_app
from tests.conftest import hub_settings
from tests.fixtures.images import generate
from tests.integration.access.world import (
    ANDERS,
    ANNA,
    ERIK,
    LILLY_PNR,
    SYSTEM_NORR,
    TOLVAN,
    build_world,
    guardian_of,
)

CITIZEN_SCOPES = "openid patient/*.cruds user/*.cruds"
STAFF_SCOPES = "openid user/*.cruds"
CASE_CODE = {"coding": [{"system": "https://ingang.example/fhir/CodeSystem/case-state", "code": "triage-case"}]}
PHOTO_LIMIT = 300_000


@dataclass
class PhotoHub:
    """A guarded hub with the access tests' world in it, and ways to act in it."""

    client: TestClient
    app: Any

    def bearer(self, principal: Any, scopes: str = CITIZEN_SCOPES) -> dict[str, str]:
        issued = self.app.state.auth.tokens.issue(principal, Scopes.parse(scopes), client_id="test",
                                                  now=datetime.now(UTC))
        return {"Authorization": f"Bearer {issued.token}"}

    def upload(self, encounter: str, data: bytes, who: Any = ANDERS, name: str = "photo.jpg",
               declared: str = "image/jpeg", scopes: str = CITIZEN_SCOPES) -> Any:
        return self.client.post(f"/api/encounters/{encounter}/photos", files={"file": (name, data, declared)},
                                headers=self.bearer(who, scopes) if who is not None else {})

    def count(self, res_type: str) -> int:
        with self.app.state.hub.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(resources)
                                    .where(resources.c.res_type == res_type)).scalar_one())

    def stored(self, res_type: str, res_id: str) -> dict[str, Any]:
        with self.app.state.hub.fhir.unit_of_work(False) as conn:
            found = self.app.state.hub.fhir.repo.read(conn, res_type, res_id)
            assert found is not None
            return dict(found.json())

    def put(self, resource: dict[str, Any]) -> None:
        fhir = self.app.state.hub.fhir
        with fhir.unit_of_work(True) as conn:
            current = fhir.repo.read(conn, resource["resourceType"], resource["id"])
            fhir.repo.update(conn, current, resource)

    def claim(self, who: str, role: str = "anna-dig1") -> None:
        task = self.stored("Task", f"task-{who}")
        task["code"] = CASE_CODE
        claimed = put_task_in(task, State.IN_PROGRESS, datetime.now(UTC), owner=f"PractitionerRole/{role}")
        claimed["id"] = f"task-{who}"
        self.put(claimed)


@pytest.fixture
def hub(database_url: str) -> Iterator[PhotoHub]:
    app = create_app(hub_settings(database_url, access_control=True, photo_max_bytes=PHOTO_LIMIT,
                                  photo_thumbnail_px=100))
    fhir = app.state.hub.fhir
    with fhir.unit_of_work(True) as conn:
        build_world(conn, fhir.repo, datetime.now(UTC))
    with TestClient(app, base_url="http://hub.test") as client:
        yield PhotoHub(client, app)


def binary_bytes(hub: PhotoHub, ref: str, who: Any = ANDERS) -> bytes:
    r = hub.client.get(f"/fhir/{ref}", headers=hub.bearer(who))
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["data"])


def outcome_of(r: Any) -> dict[str, Any]:
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    issue: dict[str, Any] = body["issue"][0]
    return issue


def test_upload__citizen_attaches_a_photo_as_media_with_clean_binaries(hub: PhotoHub) -> None:
    r = hub.upload("encounter-anders", generate.jpeg_with_gps())

    assert r.status_code == 201, r.text
    media = r.json()
    assert media["resourceType"] == "Media" and r.headers["location"].startswith(f"http://hub.test/fhir/Media/{media['id']}")
    assert media["encounter"] == {"reference": "Encounter/encounter-anders"}
    assert media["subject"] == {"reference": "Patient/anders"}
    assert (media["width"], media["height"]) == (480, 320)
    assert media["content"]["contentType"] == "image/jpeg" and "data" not in media["content"]
    photo = binary_bytes(hub, media["content"]["url"])
    assert Image.open(io.BytesIO(photo)).size == (480, 320)
    assert b"Exif" not in photo and generate.CAMERA_MAKE.encode() not in photo
    assert dict(Image.open(io.BytesIO(photo)).getexif()) == {}
    thumbnail = next(e["valueAttachment"] for e in media["extension"] if e["url"] == THUMBNAIL_EXTENSION)
    assert Image.open(io.BytesIO(binary_bytes(hub, thumbnail["url"]))).size == (100, 67)
    binary = hub.stored("Binary", media["content"]["url"].split("/")[1])
    assert binary["securityContext"] == {"reference": "Encounter/encounter-anders"}


def test_upload__the_unit_sees_the_photo_and_every_write_is_in_the_access_log(hub: PhotoHub) -> None:
    media = hub.upload("encounter-anders", generate.plain_jpeg()).json()

    found = hub.client.get("/fhir/Media?encounter=Encounter/encounter-anders", headers=hub.bearer(ANNA, STAFF_SCOPES))
    assert media["id"] in {e["resource"]["id"] for e in found.json()["entry"]}
    assert binary_bytes(hub, media["content"]["url"], who=ANNA)[:3] == b"\xff\xd8\xff"
    log = hub.client.get("/fhir/AuditEvent?patient=Patient/anders&_count=100", headers=hub.bearer(ANDERS)).json()
    written = {x["what"]["reference"] for e in log["entry"] for x in e["resource"].get("entity", [])
               if "what" in x and e["resource"]["action"] == "C"}
    assert {f"Media/{media['id']}", media["content"]["url"]} <= written


def test_upload__someone_elses_case_is_404_and_nothing_is_stored(hub: PhotoHub) -> None:
    before = hub.count("Binary")

    r = hub.upload("encounter-anders", generate.plain_jpeg(), who=TOLVAN)

    assert r.status_code == 404 and outcome_of(r)["code"] == "not-found"
    assert "Encounter/encounter-anders is not known" in outcome_of(r)["diagnostics"]
    assert hub.count("Binary") == before


def test_upload__a_guardian_attaches_to_their_childs_case_and_a_regional_system_may_not(hub: PhotoHub) -> None:
    r = hub.upload("encounter-lilly", generate.heic(), who=guardian_of(LILLY_PNR))

    assert r.status_code == 201, r.text
    assert r.json()["subject"] == {"reference": "Patient/lilly"}
    system = hub.upload("encounter-lilly", generate.plain_jpeg(), who=SYSTEM_NORR, scopes="system/*.cruds")
    assert system.status_code == 403, system.text


def test_upload__without_a_token_is_401(hub: PhotoHub) -> None:
    r = hub.upload("encounter-anders", generate.plain_jpeg(), who=None)

    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_upload__a_closed_case_refuses_new_photos_with_409(hub: PhotoHub) -> None:
    encounter = hub.stored("Encounter", "encounter-anders")
    hub.put({**encounter, "status": "finished"})

    r = hub.upload("encounter-anders", generate.plain_jpeg())

    assert r.status_code == 409
    assert outcome_of(r)["details"]["text"] == "Ärendet är avslutat och kan inte ta emot fler bilder."


def test_upload__only_the_clinician_who_took_the_case_may_attach(hub: PhotoHub) -> None:
    waiting = hub.upload("encounter-anders", generate.plain_jpeg(), who=ANNA)
    assert waiting.status_code == 409 and "not taken" in outcome_of(waiting)["diagnostics"]

    hub.claim("anders")
    r = hub.upload("encounter-anders", generate.plain_jpeg(), who=ANNA)

    assert r.status_code == 201, r.text
    assert hub.upload("encounter-anders", generate.plain_jpeg(), who=ERIK).status_code == 404  # another unit


@pytest.mark.parametrize("make,status,words", [
    (generate.pdf, 415, "Bilden kunde inte läsas. Skicka ett foto i formatet JPEG, PNG eller HEIC."),
    (generate.truncated_jpeg, 422, "skadad eller ofullständig"),
    (generate.png_bomb, 413, "för hög upplösning"),
    (generate.jpeg_pdf_polyglot, 415, "JPEG, PNG eller HEIC"),
    (lambda: generate.plain_jpeg() + b"\x00" * PHOTO_LIMIT, 413, "för stor"),
])
def test_upload__a_refused_file_gets_swedish_words_and_nothing_is_stored(
        hub: PhotoHub, make: Any, status: int, words: str) -> None:
    before = (hub.count("Binary"), hub.count("Media"))

    r = hub.upload("encounter-anders", make())

    assert r.status_code == status, r.text
    issue = outcome_of(r)
    assert words in issue["details"]["text"] and issue["diagnostics"]
    assert (hub.count("Binary"), hub.count("Media")) == before


def test_fhir_binary__a_raw_image_body_goes_through_the_same_pipeline(hub: PhotoHub) -> None:
    r = hub.client.post("/fhir/Binary", content=generate.heic(),
                        headers={**hub.bearer(ANDERS), "Content-Type": "image/heic",
                                 "X-Security-Context": "Encounter/encounter-anders"})

    assert r.status_code == 201, r.text
    binary = r.json()
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "image/jpeg"
    assert generate.CAMERA_MAKE.encode() not in base64.b64decode(binary["data"])
    media = hub.stored("Media", r.headers["x-media"].split("/")[1])
    assert media["content"]["url"] == f"Binary/{binary['id']}"


def test_fhir_binary__an_image_binary_resource_is_cleaned_and_a_citizens_pdf_is_refused(hub: PhotoHub) -> None:
    image = {"resourceType": "Binary", "contentType": "image/png", "securityContext": {"reference": "Encounter/encounter-anders"},
             "data": base64.b64encode(generate.png_with_alpha()).decode()}
    r = hub.client.post("/fhir/Binary", json=image, headers=hub.bearer(ANDERS))
    assert r.status_code == 201, r.text
    assert b"Storgatan" not in base64.b64decode(r.json()["data"])

    pdf = {**image, "contentType": "application/pdf", "data": base64.b64encode(generate.pdf()).decode()}
    refused = hub.client.post("/fhir/Binary", json=pdf, headers=hub.bearer(ANDERS))
    assert refused.status_code == 415 and "PDF" in outcome_of(refused)["diagnostics"]


def test_fhir_media__inline_data_is_cleaned_and_stored_as_a_binary(hub: PhotoHub) -> None:
    sent = {"resourceType": "Media", "status": "completed", "encounter": {"reference": "Encounter/encounter-anders"},
            "note": [{"text": "Utslaget på armen, dag 3"}],
            "content": {"contentType": "image/jpeg", "data": base64.b64encode(generate.jpeg_with_gps()).decode()}}

    r = hub.client.post("/fhir/Media", json=sent, headers=hub.bearer(ANDERS))

    assert r.status_code == 201, r.text
    media = r.json()
    assert "data" not in media["content"] and media["note"] == sent["note"]
    assert media["subject"] == {"reference": "Patient/anders"}
    assert b"Exif" not in binary_bytes(hub, media["content"]["url"])


def test_fhir_media__other_media_and_binaries_go_to_the_fhir_api_unchanged(hub: PhotoHub) -> None:
    linked = {"resourceType": "Media", "status": "completed", "subject": {"reference": "Patient/anders"},
              "encounter": {"reference": "Encounter/encounter-anders"},
              "content": {"contentType": "image/jpeg", "url": "Binary/binary-anders"}}
    hub.claim("anders")

    r = hub.client.post("/fhir/Media", json=linked, headers=hub.bearer(ANNA, STAFF_SCOPES))

    assert r.status_code == 201, r.text
    assert r.json()["content"] == linked["content"]
    refused = hub.client.post("/fhir/Media", json=linked, headers=hub.bearer(ANDERS))
    assert refused.status_code == 400 and "content.data" in outcome_of(refused)["diagnostics"]


def test_bundle__a_citizen_cannot_send_photos_past_the_cleaning_inside_a_bundle(hub: PhotoHub) -> None:
    photo = {"resourceType": "Binary", "contentType": "image/jpeg",
             "securityContext": {"reference": "Encounter/encounter-anders"},
             "data": base64.b64encode(generate.jpeg_with_gps()).decode()}
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": photo, "request": {"method": "POST", "url": "Binary"}}]}
    before = hub.count("Binary")

    r = hub.client.post("/fhir", json=bundle, headers=hub.bearer(ANDERS))

    assert r.status_code == 422, r.text
    assert outcome_of(r)["expression"] == ["Bundle.entry[0].resource"]
    assert outcome_of(r)["details"]["text"].startswith("Bilder kan inte skickas i en samling")
    assert hub.count("Binary") == before
    reads = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Patient/anders"}}]}
    assert hub.client.post("/fhir", json=reads, headers=hub.bearer(ANDERS)).status_code == 200
    staff = hub.client.post("/fhir", json={**bundle, "type": "batch"}, headers=hub.bearer(ANNA, STAFF_SCOPES))
    assert staff.status_code == 200 and staff.json()["entry"][0]["response"]["status"].startswith("201")
