"""Turn a photo a citizen sends into a clean, upright image and a thumbnail, or refuse it.

A photo of a rash or a wound is sent from a phone, where it carries the place it was taken
(EXIF GPS), the phone's make and the time, none of which the care unit needs. So the photo is
judged by its bytes (magic bytes, then a real decode), its size is checked against limits
before any pixels are decoded (a tiny file can claim to be gigapixels: a decompression bomb),
the EXIF orientation is applied, and only the pixels are written again as a new JPEG (or PNG
when the image has transparency). Nothing of the original file survives but what it shows.
Refusals carry a Swedish text a worried parent understands and an English diagnostic.
https://hl7.org/fhir/R4/media.html
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps

from communication.image_formats import ImageFormat, describe, foreign_content, sniff

# Pillow's format names for each format the magic bytes announce (a phone's JPEG with a
# second, depth or preview picture is opened as MPO).
_DECODER_NAMES = {ImageFormat.JPEG: {"JPEG", "MPO"}, ImageFormat.PNG: {"PNG"}, ImageFormat.HEIF: {"HEIF"}}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
JPEG_QUALITY = 90
THUMBNAIL_QUALITY = 80
UNREADABLE_SV = "Bilden kunde inte läsas. Skicka ett foto i formatet JPEG, PNG eller HEIC."


@dataclass(frozen=True)
class PhotoLimits:
    """How large a photo may be, and how large its thumbnail is made."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 50_000_000
    thumbnail_px: int = 320


class PhotoRefused(Exception):
    """A photo the hub will not store: why, in Swedish for the citizen and English for the log."""

    def __init__(self, reason: str, text_sv: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.reason = reason  # empty too-large too-many-pixels unsupported polyglot corrupt
        self.text_sv = text_sv
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class EncodedImage:
    """Image bytes the hub wrote itself, with their media type and size in pixels."""

    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class CleanPhoto:
    """A photo stripped of everything but its pixels, and its thumbnail."""

    photo: EncodedImage
    thumbnail: EncodedImage
    source_format: ImageFormat


def clean_photo(data: bytes, limits: PhotoLimits) -> CleanPhoto:
    """Check, decode, turn upright and re-encode a photo; raise PhotoRefused when it will not do."""
    fmt = _check_bytes(data, limits)
    image = _open(data, fmt, limits)
    try:
        _decode(image, fmt)
        upright = _upright(image)
        pixels = _pixels_only(_to_srgb(upright))
    finally:
        image.close()
    return CleanPhoto(photo=_encode(pixels, JPEG_QUALITY),
                      thumbnail=_encode(_thumbnail(pixels, limits.thumbnail_px), THUMBNAIL_QUALITY),
                      source_format=fmt)


def _check_bytes(data: bytes, limits: PhotoLimits) -> ImageFormat:
    if not data:
        raise PhotoRefused("empty", "Ingen bild kom med. Välj en bild och försök igen.", "The upload is empty")
    if len(data) > limits.max_bytes:
        megabytes = limits.max_bytes / (1024 * 1024)
        raise PhotoRefused("too-large", f"Bilden är för stor. Skicka en bild som är högst {megabytes:.0f} MB.",
                           f"The image is {len(data)} bytes, over the limit of {limits.max_bytes} bytes")
    fmt = sniff(data)
    if fmt is None:
        raise PhotoRefused("unsupported", UNREADABLE_SV,
                           f"The content is {describe(data)}, not a JPEG, PNG or HEIC/HEIF image")
    other = foreign_content(data)
    if other is not None:
        raise PhotoRefused("polyglot", UNREADABLE_SV,
                           f"The {fmt.value.upper()} image also carries a {other} document; such files are refused")
    return fmt


def _too_many_pixels(limits: PhotoLimits, claimed: str) -> PhotoRefused:
    return PhotoRefused("too-many-pixels",
                        "Bilden har för hög upplösning. Ta en ny bild med lägre upplösning eller skicka en "
                        "skärmbild av den.",
                        f"The image header claims {claimed} pixels; the limit is {limits.max_pixels}")


def _corrupt(fmt: ImageFormat, detail: str) -> PhotoRefused:
    return PhotoRefused("corrupt",
                        "Bilden kunde inte läsas, den verkar vara skadad eller ofullständig. Försök skicka "
                        "den igen, eller skicka ett foto i formatet JPEG, PNG eller HEIC.",
                        f"The {fmt.value.upper()} image could not be decoded: {detail}")


def _open(data: bytes, fmt: ImageFormat, limits: PhotoLimits) -> ImageFile.ImageFile:
    """Read only the header, and check the dimensions it claims before anything is decoded."""
    if fmt is ImageFormat.HEIF:
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged metadata: the pixels decide
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(_DECODER_NAMES[fmt]))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(limits, f"more than {Image.MAX_IMAGE_PIXELS}") from None
    except Exception as exc:  # a decoder fed hostile bytes may fail in any way; each means "not a photo"
        raise _corrupt(fmt, str(exc) or type(exc).__name__) from None
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise _corrupt(fmt, f"the header claims {width}×{height} pixels")
    if width * height > limits.max_pixels:
        image.close()
        raise _too_many_pixels(limits, f"{width}×{height} = {width * height}")
    if image.format not in _DECODER_NAMES[fmt]:
        image.close()
        raise _corrupt(fmt, f"it decodes as {image.format}")
    return image


def _register_heif() -> None:
    """Teach Pillow to read HEIF, the first time a HEIF photo arrives."""
    import pillow_heif

    if "HEIF" not in Image.OPEN:
        pillow_heif.register_heif_opener()


def _decode(image: ImageFile.ImageFile, fmt: ImageFormat) -> None:
    """Decode every pixel now, so a truncated or corrupt file is refused here, not half-stored."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns about some damage it decodes around
            image.load()
    except Exception as exc:  # as in _open: any failure to decode hostile bytes is a damaged photo
        raise _corrupt(fmt, str(exc) or type(exc).__name__) from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation to the pixels, as the phone's own viewer shows the photo."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # damaged EXIF is read as far as it goes
            turned = ImageOps.exif_transpose(image)
    except Exception:  # unreadable EXIF: the pixels are shown as stored
        turned = None
    return turned if turned is not None else image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert the pixels to 8-bit sRGB (with alpha if any), through the photo's ICC profile if it has one."""
    has_alpha = image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    target = "RGBA" if has_alpha else ("L" if image.mode in ("L", "1") else "RGB")
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        converted = _profile_to_srgb(image, profile)
        if converted is not None:
            image = converted
    return image if image.mode == target else image.convert(target)


def _profile_to_srgb(image: Image.Image, profile: bytes) -> Image.Image | None:
    """Map colours from an embedded profile (Display P3 on many phones) to sRGB; None if it cannot."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        srgb = ImageCms.createProfile("sRGB")
        result: Any = ImageCms.profileToProfile(image, source, srgb, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return result if isinstance(result, Image.Image) else None


def _pixels_only(image: Image.Image) -> Image.Image:
    """Return a new image made of the pixels alone: no EXIF, XMP, ICC, comments or text chunks."""
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _thumbnail(image: Image.Image, longest_side: int) -> Image.Image:
    small = image.copy()
    small.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    return small


def _encode(image: Image.Image, quality: int) -> EncodedImage:
    """Write the pixels as PNG when they have transparency, otherwise as JPEG."""
    out = io.BytesIO()
    if image.mode == "RGBA":
        image.save(out, format="PNG", compress_level=6)
        content_type = "image/png"
    else:
        image.save(out, format="JPEG", quality=quality)
        content_type = "image/jpeg"
    return EncodedImage(out.getvalue(), content_type, image.width, image.height)
