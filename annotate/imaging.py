"""Decoding and checking uploaded image bytes, perceptual hashes and thumbnails.

An upload is trusted by its content, never its name: Pillow must recognise one of the accepted
formats, the declared size must stay under ``IMAGE_MAX_PIXELS`` (a decompression bomb is a tiny
file that decodes to gigabytes), and the whole image must decode (a truncated JPEG is refused,
not silently padded with grey). EXIF orientation is applied once here, so the stored pixels are
upright and every coordinate refers to them.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageFile, ImageOps, UnidentifiedImageError

ImageFile.LOAD_TRUNCATED_IMAGES = False

ACCEPTED_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tif"),
}
EXIF_ORIENTATION = 0x0112


class ImageRejected(ValueError):
    """The bytes are not an image we can store; the message says why."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes  # what will be stored (re-encoded only when EXIF orientation had to be applied)
    sha256: str
    width: int
    height: int
    mime_type: str
    extension: str
    phash: str


def _open_checked(data: bytes) -> PILImage.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            image = PILImage.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageRejected("The file is not an image in a format we accept (JPEG, PNG, WebP, BMP, TIFF).") from None
        except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError):
            raise ImageRejected("The image declares more pixels than allowed (decompression bomb?).") from None
        except (OSError, SyntaxError, ValueError) as exc:  # a header cut short or corrupt
            raise ImageRejected(f"The image is damaged or truncated ({exc}).") from None
        if image.format not in ACCEPTED_FORMATS:
            raise ImageRejected(f"{image.format} images are not accepted; use JPEG, PNG, WebP, BMP or TIFF.")
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageRejected("The image has no pixels.")
        if width * height > settings.IMAGE_MAX_PIXELS:
            raise ImageRejected(
                f"The image is {width}x{height} = {width * height:,} pixels; the limit is "
                f"{settings.IMAGE_MAX_PIXELS:,} (decompression bomb?)."
            )
        try:
            image.verify()
            image = PILImage.open(io.BytesIO(data))
            image.load()
            image.getexif()
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise ImageRejected(f"The image is damaged or truncated ({exc}).") from None
    return image


def check_image_bytes(data: bytes) -> CheckedImage:
    """Validate uploaded bytes and return what to store. Raises :class:`ImageRejected`."""
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise ImageRejected(f"The file is {len(data):,} bytes; the limit is {settings.IMAGE_MAX_BYTES:,}.")
    image = _open_checked(data)
    fmt = image.format
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    if orientation not in (None, 1):
        image = ImageOps.exif_transpose(image)
        data = _encode(image, fmt)
    mime_type, extension = ACCEPTED_FORMATS[fmt]
    return CheckedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        width=image.width,
        height=image.height,
        mime_type=mime_type,
        extension=extension,
        phash=perceptual_hash(image),
    )


def _encode(image: PILImage.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=95, subsampling=0)
    else:
        image.save(out, fmt)
    return out.getvalue()


def perceptual_hash(image: PILImage.Image) -> str:
    """64-bit DCT hash (pHash): low frequencies of a 32x32 grey image against their median.

    Near-duplicates (re-encodes, resizes, slight crops or colour shifts) land a few bits apart,
    which is what split-leak detection needs.
    """
    small = image.convert("L").resize((32, 32), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    dct = cv2.dct(np.asarray(small, dtype=np.float32))[:8, :8]
    bits = (dct > np.median(dct)).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming_distances(hashes: list[str]) -> np.ndarray:
    """Pairwise bit distances between 64-bit hex hashes, as an (n, n) uint8 array."""
    values = np.array([int(h, 16) for h in hashes], dtype=np.uint64)
    as_bytes = values.view(np.uint8).reshape(-1, 8)
    popcount = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    out = np.empty((len(values), len(values)), dtype=np.uint8)
    for i in range(len(values)):
        out[i] = popcount[as_bytes ^ as_bytes[i]].sum(axis=1)
    return out


def thumbnail_bytes(data: bytes, size: int) -> bytes:
    """A JPEG at most ``size`` pixels on its longer side."""
    image = PILImage.open(io.BytesIO(data))
    image.draft("RGB", (size, size))
    image = image.convert("RGB")
    image.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
