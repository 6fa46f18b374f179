"""Describe a cleaned photo as FHIR: a Binary for the photo, one for its thumbnail, and the Media.

One photo is one Media, so a clinician listing a case's photos (`Media?encounter=`) sees each
once; the thumbnail is therefore not a second Media but a Binary the Media names in the
`photo-thumbnail` extension (an Attachment, as `Media.content` is). Both Binaries carry the
case's Encounter as `securityContext`, so exactly those who see the case see the pictures.
The pixel data never sits inline in the Media: `content.url` points at the Binary.
https://hl7.org/fhir/R4/media.html, https://hl7.org/fhir/R4/binary.html
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

from communication.photos import CleanPhoto, EncodedImage

THUMBNAIL_EXTENSION = "https://ingang.se/fhir/StructureDefinition/photo-thumbnail"
MEDIA_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/media-type"
# Media elements that describe the pixels; the hub writes them from the cleaned image.
_PIXEL_ELEMENTS = ("content", "width", "height", "frames", "duration", "id", "meta", "text", "contained")


class PhotoInputError(ValueError):
    """A photo request that is malformed as FHIR (not as an image): what is wrong, and where."""

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.message, self.location = message, location


def photo_binary(image: EncodedImage, encounter_ref: str) -> dict[str, Any]:
    """Return the Binary that holds one cleaned image, readable by whoever sees the case."""
    return {"resourceType": "Binary", "contentType": image.content_type,
            "securityContext": {"reference": encounter_ref},
            "data": base64.b64encode(image.data).decode("ascii")}


def _attachment(image: EncodedImage, binary_ref: str, title: str) -> dict[str, Any]:
    return {"contentType": image.content_type, "url": binary_ref, "size": len(image.data),
            "hash": base64.b64encode(hashlib.sha1(image.data).digest()).decode("ascii"), "title": title}


def photo_media(photo: CleanPhoto, photo_ref: str, thumbnail_ref: str, encounter_ref: str, subject_ref: str,
                now: datetime, sent: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the Media for a cleaned photo, keeping what the sender said about it (note, body site …)."""
    media = {k: v for k, v in (sent or {}).items() if k not in _PIXEL_ELEMENTS}
    others = [e for e in media.get("extension") or [] if isinstance(e, dict) and e.get("url") != THUMBNAIL_EXTENSION]
    media.update({
        "resourceType": "Media",
        "status": "completed",
        "type": {"coding": [{"system": MEDIA_TYPE_SYSTEM, "code": "image", "display": "Image"}]},
        "subject": {"reference": subject_ref},
        "encounter": {"reference": encounter_ref},
        "issued": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "width": photo.photo.width,
        "height": photo.photo.height,
        "content": _attachment(photo.photo, photo_ref, "Foto"),
        "extension": [*others, {"url": THUMBNAIL_EXTENSION,
                                "valueAttachment": _attachment(photo.thumbnail, thumbnail_ref, "Miniatyrbild")}],
    })
    return media


def decoded_data(value: Any, location: str) -> bytes:
    """Return the bytes of a base64Binary element, or say where it is not base64."""
    if not isinstance(value, str) or not value.strip():
        raise PhotoInputError("The photo's data is missing; send the image base64-encoded", location)
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise PhotoInputError("The photo's data is not valid base64", location) from None


def media_photo(media: Any) -> tuple[str, bytes]:
    """Return the Encounter reference and image bytes of a Media sent with inline `content.data`."""
    if not isinstance(media, dict) or media.get("resourceType") != "Media":
        raise PhotoInputError("The body must be a Media resource", "Media")
    encounter = media.get("encounter")
    ref = encounter.get("reference") if isinstance(encounter, dict) else None
    if not isinstance(ref, str) or not ref:
        raise PhotoInputError("A photo belongs to a case: set Media.encounter to the case's Encounter",
                              "Media.encounter")
    content = media.get("content")
    data = content.get("data") if isinstance(content, dict) else None
    return ref, decoded_data(data, "Media.content.data")


def has_inline_data(media: Any) -> bool:
    """Tell whether a Media carries its picture inline (`content.data`)."""
    content = media.get("content") if isinstance(media, dict) else None
    return isinstance(content, dict) and content.get("data") is not None


def encounter_id(ref: str, base_url: str, location: str) -> str:
    """Return the id of an `Encounter/<id>` reference (relative, or absolute on this server)."""
    relative = ref
    if base_url and ref.startswith(base_url.rstrip("/") + "/"):
        relative = ref[len(base_url.rstrip("/")) + 1:]
    kind, _, res_id = relative.partition("/")
    if kind != "Encounter" or not res_id or "/" in res_id:
        raise PhotoInputError(f"'{ref[:100]}' is not a reference to an Encounter on this server, like Encounter/<id>",
                              location)
    return res_id
