"""Cleaning photos: only JPEG, PNG and HEIC by their content, upright, without metadata, within limits."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageFile

from communication.image_formats import ImageFormat, sniff
from communication.photos import UNREADABLE_SV, CleanPhoto, PhotoLimits, PhotoRefused, clean_photo
from tests.fixtures.images import generate

LIMITS = PhotoLimits(max_bytes=5 * 1024 * 1024, max_pixels=50_000_000, thumbnail_px=120)
EXIF_GPS_IFD = 0x8825


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def refusal(data: bytes, limits: PhotoLimits = LIMITS) -> PhotoRefused:
    with pytest.raises(PhotoRefused) as caught:
        clean_photo(data, limits)
    return caught.value


def assert_no_metadata(data: bytes) -> None:
    image = opened(data)
    assert dict(image.getexif()) == {}
    assert EXIF_GPS_IFD not in image.getexif()
    assert not {"exif", "xmp", "icc_profile", "comment", "Location"} & set(image.info)
    for leak in (b"Exif", generate.CAMERA_MAKE.encode(), b"xmpmeta", b"GPS", b"taken at home", b"Storgatan"):
        assert leak not in data, leak


def test_clean_photo__jpeg_from_a_phone_loses_exif_gps_xmp_and_comment() -> None:
    sent = generate.jpeg_with_gps()
    assert EXIF_GPS_IFD in opened(sent).getexif() and generate.CAMERA_MAKE.encode() in sent  # the test's premise

    clean = clean_photo(sent, LIMITS)

    assert clean.photo.content_type == "image/jpeg" and clean.source_format is ImageFormat.JPEG
    assert_no_metadata(clean.photo.data)
    assert_no_metadata(clean.thumbnail.data)


def test_clean_photo__exif_orientation_is_applied_so_the_photo_stays_upright() -> None:
    sent = generate.jpeg_with_gps(orientation=6)
    assert opened(sent).size == (320, 480)  # stored on its side, as the sensor saw it

    clean = clean_photo(sent, LIMITS)
    image = opened(clean.photo.data)

    assert (clean.photo.width, clean.photo.height) == image.size == (480, 320)
    red, _green, blue = image.getpixel((10, 5))  # type: ignore[misc]
    assert blue > 200 and red < 50, "the marker is along the top-left edge, where the person saw it"
    red, _green, blue = image.getpixel((470, 310))  # type: ignore[misc]
    assert red > 200 and blue < 100


def test_clean_photo__png_with_transparency_stays_a_png_with_its_alpha() -> None:
    clean = clean_photo(generate.png_with_alpha(), LIMITS)
    image = opened(clean.photo.data)

    assert clean.photo.content_type == "image/png" and image.mode == "RGBA"
    assert image.getpixel((10, 50))[3] == 0 and image.getpixel((150, 50))[3] == 255  # type: ignore[index]
    assert_no_metadata(clean.photo.data)
    assert clean.thumbnail.content_type == "image/png"


def test_clean_photo__heic_becomes_an_upright_jpeg_without_metadata() -> None:
    sent = generate.heic()
    assert sniff(sent) is ImageFormat.HEIF and generate.CAMERA_MAKE.encode() in sent

    clean = clean_photo(sent, LIMITS)

    assert clean.source_format is ImageFormat.HEIF and clean.photo.content_type == "image/jpeg"
    assert (clean.photo.width, clean.photo.height) == (320, 240)
    assert_no_metadata(clean.photo.data)


def test_clean_photo__thumbnail_keeps_the_aspect_within_the_configured_size() -> None:
    clean: CleanPhoto = clean_photo(generate.jpeg_with_gps(), LIMITS)

    assert (clean.thumbnail.width, clean.thumbnail.height) == (120, 80)
    assert opened(clean.thumbnail.data).size == (120, 80)


@pytest.mark.parametrize("width,height", [(50_000, 50_000), (8_000, 8_000)])
def test_clean_photo__decompression_bomb_is_refused_from_its_header_without_decoding(
        monkeypatch: pytest.MonkeyPatch, width: int, height: int) -> None:
    decoded: list[Any] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    bomb = generate.png_bomb(width, height)
    assert len(bomb) < 200

    refused = refusal(bomb)

    assert refused.reason == "too-many-pixels" and decoded == []
    assert "upplösning" in refused.text_sv and "pixels" in refused.diagnostics


def test_clean_photo__a_jpg_that_is_really_a_pdf_is_refused_in_words_a_parent_understands() -> None:
    refused = refusal(generate.pdf())

    assert refused.reason == "unsupported"
    assert refused.text_sv == UNREADABLE_SV == "Bilden kunde inte läsas. Skicka ett foto i formatet JPEG, PNG eller HEIC."
    assert "PDF" in refused.diagnostics


def test_clean_photo__a_truncated_jpeg_is_refused_as_damaged() -> None:
    refused = refusal(generate.truncated_jpeg())

    assert refused.reason == "corrupt" and "skadad" in refused.text_sv and "truncated" in refused.diagnostics


def test_clean_photo__a_jpeg_that_is_also_a_pdf_is_refused() -> None:
    sent = generate.jpeg_pdf_polyglot()
    assert opened(sent).format == "JPEG"  # it is a real JPEG, too

    refused = refusal(sent)

    assert refused.reason == "polyglot" and "PDF" in refused.diagnostics


def test_clean_photo__a_jpeg_with_a_zip_archive_at_its_end_is_refused() -> None:
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.txt", "hello")
    refused = refusal(generate.plain_jpeg() + archive.getvalue())

    assert refused.reason == "polyglot" and "ZIP" in refused.diagnostics


@pytest.mark.parametrize("make,named", [(generate.gif, "GIF"), (generate.svg, "SVG"),
                                        (lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video")])
def test_clean_photo__other_formats_are_refused_and_named_in_the_diagnostics(make: Any, named: str) -> None:
    refused = refusal(make())

    assert refused.reason == "unsupported" and refused.text_sv == UNREADABLE_SV and named in refused.diagnostics


def test_clean_photo__too_many_bytes_are_refused_before_anything_else() -> None:
    sent = generate.jpeg_with_gps()

    refused = refusal(sent, PhotoLimits(max_bytes=len(sent) - 1))

    assert refused.reason == "too-large" and "för stor" in refused.text_sv and str(len(sent)) in refused.diagnostics


def test_clean_photo__an_empty_upload_is_refused() -> None:
    assert refusal(b"").reason == "empty"


@pytest.mark.parametrize("make", [generate.jpeg_with_gps, generate.png_with_alpha, generate.heic],
                         ids=["jpeg", "png", "heic"])
def test_clean_photo__a_cut_or_damaged_file_is_either_cleaned_or_refused_never_an_error(make: Any) -> None:
    import random

    sent = make()
    chance = random.Random(5)  # seeded: the same damaged files on every run
    damaged = [sent[:cut] for cut in range(1, len(sent), max(1, len(sent) // 40))]
    for _ in range(60):
        flipped = bytearray(sent)
        for _ in range(chance.randint(1, 8)):
            flipped[chance.randrange(len(flipped))] = chance.randrange(256)
        damaged.append(bytes(flipped))
    outcomes = set()
    for data in damaged:
        try:
            clean = clean_photo(data, LIMITS)
        except PhotoRefused as refused:
            outcomes.add(refused.reason)
        else:
            assert_no_metadata(clean.photo.data)
            outcomes.add("cleaned")
    assert "corrupt" in outcomes
