"""A cleaned photo as FHIR: Binaries with the case as security context, one Media naming both."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from communication.image_resources import (
    THUMBNAIL_EXTENSION,
    PhotoInputError,
    encounter_id,
    media_photo,
    photo_binary,
    photo_media,
)
from communication.photos import PhotoLimits, clean_photo
from tests.fixtures.images import generate

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_photo_binary__holds_the_image_and_the_case_as_security_context() -> None:
    photo = clean_photo(generate.plain_jpeg(), PhotoLimits())

    binary = photo_binary(photo.photo, "Encounter/e1")

    assert binary["securityContext"] == {"reference": "Encounter/e1"}
    assert base64.b64decode(binary["data"]) == photo.photo.data and binary["contentType"] == "image/jpeg"


def test_photo_media__keeps_the_senders_note_but_writes_the_pixels_part_itself() -> None:
    photo = clean_photo(generate.plain_jpeg(64, 48), PhotoLimits(thumbnail_px=32))
    sent = {"resourceType": "Media", "id": "chosen", "note": [{"text": "Knät"}], "width": 9999,
            "content": {"contentType": "image/gif", "data": "R0lG"},
            "extension": [{"url": THUMBNAIL_EXTENSION, "valueAttachment": {"url": "Binary/forged"}}]}

    media = photo_media(photo, "Binary/p", "Binary/t", "Encounter/e1", "Patient/a", NOW, sent)

    assert "id" not in media and media["note"] == [{"text": "Knät"}]
    assert (media["width"], media["height"]) == (64, 48)
    assert media["content"]["url"] == "Binary/p" and "data" not in media["content"]
    assert media["content"]["size"] == len(photo.photo.data) and media["issued"] == "2026-03-01T09:30:00Z"
    thumbnails = [e for e in media["extension"] if e["url"] == THUMBNAIL_EXTENSION]
    assert [t["valueAttachment"]["url"] for t in thumbnails] == ["Binary/t"]


@pytest.mark.parametrize("media,where", [
    ({"resourceType": "Media", "content": {"data": "AAAA"}}, "Media.encounter"),
    ({"resourceType": "Media", "encounter": {"reference": "Encounter/e1"}, "content": {"data": "not base64!"}},
     "Media.content.data"),
    ({"resourceType": "Patient"}, "Media"),
])
def test_media_photo__says_where_a_malformed_media_is_wrong(media: dict[str, object], where: str) -> None:
    with pytest.raises(PhotoInputError) as caught:
        media_photo(media)

    assert caught.value.location == where


def test_encounter_id__reads_relative_and_own_absolute_references_only() -> None:
    assert encounter_id("Encounter/e1", "http://hub.test/fhir", "x") == "e1"
    assert encounter_id("http://hub.test/fhir/Encounter/e1", "http://hub.test/fhir", "x") == "e1"
    for wrong in ("Patient/a", "http://elsewhere/fhir/Encounter/e1", "Encounter/", "Encounter/e1/_history/1"):
        with pytest.raises(PhotoInputError):
            encounter_id(wrong, "http://hub.test/fhir", "x")
