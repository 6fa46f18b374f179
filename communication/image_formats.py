"""Tell what a file is from its bytes, and find files that are two things at once.

A photo is judged by its content, never by its name or the Content-Type a client declared:
the first bytes say which format a decoder should expect, and a file that also opens as a
PDF, a web page or a ZIP archive (a polyglot) is refused before any decoder sees it, since
some reader downstream could take it for the other thing.
https://hl7.org/fhir/R4/binary.html#security
"""

from __future__ import annotations

from enum import StrEnum

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# ISO base media file brands that mean a still HEIF image (HEVC-coded or generic).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"})
# PDF readers look for their header anywhere in the first kilobyte, browsers sniff markup there.
SNIFF_WINDOW = 1024
_FOREIGN_HEADERS = ((b"%PDF-", "PDF"), (b"<html", "HTML"), (b"<script", "HTML"), (b"<svg", "SVG"),
                    (b"<!doctype", "HTML"))
# A ZIP archive is read from its end: an end-of-central-directory record with no comment.
_ZIP_END = b"PK\x05\x06"
_ZIP_END_LENGTH = 22


class ImageFormat(StrEnum):
    """The formats a photo may arrive in."""

    JPEG = "jpeg"
    PNG = "png"
    HEIF = "heif"


def sniff(data: bytes) -> ImageFormat | None:
    """Return the photo format the magic bytes announce, or None for anything else."""
    if data.startswith(JPEG_MAGIC):
        return ImageFormat.JPEG
    if data.startswith(PNG_MAGIC):
        return ImageFormat.PNG
    if data[4:8] == b"ftyp" and _heif_brand(data):
        return ImageFormat.HEIF
    return None


def _heif_brand(data: bytes) -> bool:
    """Tell whether an ISO-BMFF `ftyp` box names a HEIF brand, as major or compatible brand."""
    size = int.from_bytes(data[0:4], "big")
    if size < 16 or size > len(data) or size > 4096:
        return False
    brands = [data[8:12]] + [data[i:i + 4] for i in range(16, size - 3, 4)]
    return any(brand in HEIF_BRANDS for brand in brands)


def describe(data: bytes) -> str:
    """Name what a refused file seems to be, for the English diagnostics of the refusal."""
    head = data[:SNIFF_WINDOW].lower()
    known = (
        (data.startswith(b"%PDF-"), "a PDF document"),
        (data[:6] in (b"GIF87a", b"GIF89a"), "a GIF image"),
        (data[:4] == b"RIFF" and data[8:12] == b"WEBP", "a WebP image"),
        (data[:2] == b"BM", "a BMP image"),
        (data[:4] in (b"II*\x00", b"MM\x00*"), "a TIFF image"),
        (data[:4] == b"PK\x03\x04", "a ZIP archive"),
        (b"<svg" in head, "an SVG image"),
        (head.lstrip().startswith((b"<?xml", b"<!doctype", b"<html")), "an XML or HTML document"),
        (data[4:8] == b"ftyp", "a video or an image format other than HEIC"),
    )
    for matched, name in known:
        if matched:
            return name
    return "not an image in any format the hub reads"


def foreign_content(data: bytes) -> str | None:
    """Return the other format a photo's bytes also carry (a polyglot), or None when clean."""
    head = data[:SNIFF_WINDOW].lower()
    for marker, name in _FOREIGN_HEADERS:
        if marker.lower() in head:
            return name
    if len(data) >= _ZIP_END_LENGTH and data[-_ZIP_END_LENGTH:].startswith(_ZIP_END):
        return "ZIP"
    return None
