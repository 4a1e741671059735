"""Real JPEGs cut at the points that matter for the missing-EOI repair (shared by the upload and
import tests): inside the header, right after the scan header, in the middle of the scan, one byte
of scan data short, and only the end-of-image marker (or its last byte) missing."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage

EOI = b"\xff\xd9"


def jpeg(width: int = 96, height: int = 64, *, seed: int = 0, **save) -> bytes:
    """A smooth-noise JPEG (``save``: Pillow options such as ``progressive=True``, ``restart_marker_blocks=1``)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(height // 8, 2), max(width // 8, 2), 3), dtype=np.uint8)
    image = PILImage.fromarray(small).resize((width, height), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save)
    data = out.getvalue()
    assert data.endswith(EOI)
    return data


def first_scan_data(data: bytes) -> int:
    """The offset where the first scan's entropy-coded data starts (just after its SOS header)."""
    i = 2
    while True:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:
            return i + 2 + length
        i += 2 + length


def broken_cuts(data: bytes) -> dict[str, bytes]:
    """The cuts that must stay refused: pixel data (or headers) are missing."""
    scan = first_scan_data(data)
    return {
        "in-the-header": data[: scan // 2],
        "right-after-the-scan-header": data[:scan],
        "mid-scan-10%": data[: scan + (len(data) - scan) // 10],
        "mid-scan-50%": data[: (scan + len(data)) // 2],
        "mid-scan-90%": data[: scan + 9 * (len(data) - scan) // 10],
        "one-scan-byte-short": data[:-3],
    }


def marker_missing(data: bytes) -> bytes:
    """The file without its end-of-image marker: all pixel data is there."""
    assert data.endswith(EOI)
    return data[:-2]
