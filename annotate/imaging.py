"""Decoding and checking uploaded image bytes, perceptual hashes and thumbnails.

An upload is trusted by its content, never its name: Pillow must recognise one of the accepted
formats, the declared size must stay under ``IMAGE_MAX_PIXELS`` (a decompression bomb is a tiny
file that decodes to gigabytes), and the whole image must decode (a truncated JPEG is refused,
not silently padded with grey). EXIF orientation is applied once here, so the stored pixels are
upright and every coordinate refers to them.

One kind of damage is repaired instead of refused: a JPEG whose pixel data is all there but whose
file ends without its end-of-image marker (``FF D9``; some cameras, scanners and interrupted
copies write such files). It is stored with the marker appended and nothing else changed (see
:func:`jpeg_missing_eoi_repaired` for how "all there" is decided: libjpeg itself cannot tell, as
it pads missing scan data with zeros and decodes a cut file without complaint).
"""

from __future__ import annotations

import hashlib
import io
import math
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
    repaired: bool = False  # a JPEG stored with its missing end-of-image marker appended


class _Truncated(ImageRejected):
    """Pillow ran out of data while decoding the pixels (the only damage a repair is tried for)."""


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
            kind = _Truncated if "image file is truncated" in str(exc) else ImageRejected
            raise kind(f"The image is damaged or truncated ({exc}).") from None
    return image


def check_image_bytes(data: bytes) -> CheckedImage:
    """Validate uploaded bytes and return what to store. Raises :class:`ImageRejected`."""
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > settings.IMAGE_MAX_BYTES:
        raise ImageRejected(f"The file is {len(data):,} bytes; the limit is {settings.IMAGE_MAX_BYTES:,}.")
    repaired = False
    try:
        image = _open_checked(data)
    except _Truncated:
        fixed = jpeg_missing_eoi_repaired(data)
        if fixed is None:
            raise
        data, repaired = fixed, True
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
        repaired=repaired,
    )


# --- JPEGs missing only their end-of-image marker ------------------------------------------------
JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
# Frames whose scans are walked: Huffman-coded baseline, extended and progressive (others are rare
# enough, and arithmetic-coded or lossless ones different enough, to stay refused when cut).
_REPAIRABLE_FRAMES = {0xC0, 0xC1, 0xC2}
_FILLERS = (b"\x55" * 64, b"\xaa" * 64)


@dataclass
class _Scan:
    components: list[int]
    start: int  # Ss: first DCT coefficient of the band
    end: int  # Se: last one
    low_bit: int  # Al: the successive-approximation bit it refines down to (0: final)
    restart_interval: int  # MCUs between restart markers (0: none)
    restarts: int = 0  # restart markers found in its entropy-coded data


@dataclass
class _Frame:
    width: int
    height: int
    sampling: dict[int, tuple[int, int]]  # component id -> (horizontal, vertical) sampling factor
    progressive: bool


def _jpeg_walk(data: bytes) -> tuple[_Frame, list[_Scan], bool] | None:
    """(frame, scans, ends with a lone FF) of a JPEG whose file ends inside its last scan's data.

    None when it does not: it has its EOI, ends inside a header segment or between segments (a cut
    there loses headers or whole scans), or is a kind of JPEG not walked here. Entropy-coded data
    runs to the next marker that is neither a stuffed ``FF 00``, fill ``FF`` nor a restart marker.
    """
    if not data.startswith(JPEG_SOI):
        return None
    n, i = len(data), 2
    frame: _Frame | None = None
    scans: list[_Scan] = []
    restart_interval = 0
    while True:
        if i >= n or data[i] != 0xFF:
            return None
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == 0xD9:
            return None
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length (stray restart, TEM)
            continue
        if i + 2 > n:
            return None
        length = int.from_bytes(data[i:i + 2], "big")
        if length < 2 or i + length > n:
            return None
        segment, i = data[i + 2:i + length], i + length
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            if marker not in _REPAIRABLE_FRAMES or frame is not None or len(segment) < 6:
                return None
            height, width, count = int.from_bytes(segment[1:3], "big"), int.from_bytes(segment[3:5], "big"), segment[5]
            if not (height and width and count) or len(segment) < 6 + 3 * count:
                return None
            sampling = {segment[6 + 3 * k]: (segment[7 + 3 * k] >> 4, segment[7 + 3 * k] & 15) for k in range(count)}
            if any(h < 1 or v < 1 for h, v in sampling.values()):
                return None
            frame = _Frame(width, height, sampling, progressive=marker == 0xC2)
        elif marker == 0xDD and len(segment) >= 2:
            restart_interval = int.from_bytes(segment[:2], "big")
        elif marker == 0xDA:
            if frame is None or not segment or len(segment) < 1 + 2 * segment[0] + 3:
                return None
            count = segment[0]
            scan = _Scan(
                components=[segment[1 + 2 * k] for k in range(count)], start=segment[1 + 2 * count],
                end=segment[2 + 2 * count], low_bit=segment[3 + 2 * count] & 15, restart_interval=restart_interval,
            )
            if not set(scan.components) <= set(frame.sampling):
                return None
            scans.append(scan)
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 == n:  # the file ends in this scan's data (perhaps on the EOI's FF)
                    return frame, scans, j >= 0
                following = data[j + 1]
                if following == 0x00:
                    i = j + 2
                elif following == 0xFF:
                    i = j + 1
                elif 0xD0 <= following <= 0xD7:
                    scan.restarts += 1
                    i = j + 2
                else:
                    i = j
                    break


def _scans_complete(frame: _Frame, scans: list[_Scan]) -> bool:
    """Whether the scans cover every coefficient of every component, and the last one has all its
    restart intervals.

    A file cut exactly between two scans (a progressive JPEG's later refinements, or a sequential
    one's later components) or exactly at a restart marker decodes without error when its EOI is
    appended and pads the rest with grey, however the pixels are compared; the headers say so.
    """
    if frame.progressive:
        for component in frame.sampling:
            for k in range(64):
                if not any(component in s.components and s.start <= k <= s.end and s.low_bit == 0 for s in scans):
                    return False
    elif not set(frame.sampling) <= {c for s in scans for c in s.components}:
        return False
    last = scans[-1]
    if last.restart_interval:
        h_max = max(h for h, _ in frame.sampling.values())
        v_max = max(v for _, v in frame.sampling.values())
        if len(last.components) == 1:  # a non-interleaved scan: its MCU is one block of its component
            h, v = frame.sampling[last.components[0]]
            mcus = math.ceil(math.ceil(frame.width * h / h_max) / 8) * math.ceil(math.ceil(frame.height * v / v_max) / 8)
        else:
            mcus = math.ceil(frame.width / (8 * h_max)) * math.ceil(frame.height / (8 * v_max))
        if last.restarts < math.ceil(mcus / last.restart_interval) - 1:
            return False
    return True


def _pixels(data: bytes) -> bytes:
    image = PILImage.open(io.BytesIO(data))
    image.load()
    return image.tobytes()


def jpeg_missing_eoi_repaired(data: bytes) -> bytes | None:
    """The JPEG with its end-of-image marker appended, if that is all it lacks; else None.

    libjpeg pads a scan that runs out with zero bits, so a file cut anywhere in its last scan
    decodes "successfully" once ``FF D9`` is appended: a strict decode proves nothing. Instead:

    1. the markers are walked: the file must end inside its last scan's entropy-coded data and its
       scans must cover every component and coefficient, the last one with all its restart markers;
    2. the repaired file must pass every check (:func:`_open_checked`, pixel limits first);
    3. its pixels must not change when filler bytes (two complementary bit patterns) are put
       before the appended marker: data that is complete ignores them (libjpeg skips bytes after
       the last MCU), data that is cut decodes them as part of the image.

    A file ending in a lone ``FF`` (the marker's first byte; entropy-coded data never ends so) gets
    the ``D9``. Only called for a JPEG Pillow found truncated, so the cost (three decodes) is paid
    for broken files only.
    """
    if data.endswith(JPEG_EOI):
        return None
    walked = _jpeg_walk(data)
    if walked is None or not _scans_complete(walked[0], walked[1]):
        return None
    body = data[:-1] if walked[2] else data
    repaired = body + JPEG_EOI
    try:
        _open_checked(repaired)
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            pixels = _pixels(repaired)
            if any(_pixels(body + filler + JPEG_EOI) != pixels for filler in _FILLERS):
                return None
    except (ImageRejected, OSError, SyntaxError, ValueError, struct.error, PILImage.DecompressionBombWarning):
        return None
    return repaired


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
