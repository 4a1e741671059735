"""A minimal reader for the uncompressed, scanline OpenEXR files Blender writes.

Blender's multilayer EXR holds every render pass (``ViewLayer.Combined.R``,
``ViewLayer.IndexOB.X``, ...) in one file. OpenCV only reads the RGB(A) channels of plain EXRs,
and no EXR library is a dependency, so the render worker writes its passes without compression
and this module reads them back with numpy: a header of named attributes, an offset table, then
one chunk per scanline holding each channel's row in channel-name order.
"""

from __future__ import annotations

import struct

import numpy as np

MAGIC = b"\x76\x2f\x31\x01"
_PIXEL_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}


class ExrError(ValueError):
    """The file is not an uncompressed scanline EXR this reader understands."""


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _channels(value: bytes) -> list[tuple[str, np.dtype]]:
    out, pos = [], 0
    while pos < len(value) and value[pos] != 0:
        name, pos = _cstring(value, pos)
        pixel_type, _linear, x_sampling, y_sampling = struct.unpack_from("<iB3xii", value, pos)
        pos += 16
        if pixel_type not in _PIXEL_TYPES or (x_sampling, y_sampling) != (1, 1):
            raise ExrError(f"Channel {name!r} uses an unsupported pixel type or subsampling.")
        out.append((name, _PIXEL_TYPES[pixel_type]))
    return out


def read_header(data: bytes, pos: int) -> tuple[dict[str, bytes], int]:
    """One part's header attributes (name -> raw bytes) from ``pos``, and where the header ends.

    Also used by the upload check of HDRI assets, which validates a file without decoding it.
    """
    header = {}
    while data[pos] != 0:
        name, pos = _cstring(data, pos)
        _type, pos = _cstring(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        pos += 4
        if size < 0 or pos + size > len(data):  # a negative size would loop back over the same bytes
            raise ExrError(f"The header attribute {name!r} declares {size} bytes; the file has {len(data) - pos} left.")
        header[name] = data[pos : pos + size]
        pos += size
    return header, pos + 1


def read_exr(data: bytes) -> dict[str, np.ndarray]:
    """Every channel of the image (all parts) as a (height, width) array, keyed by its name."""
    if data[:4] != MAGIC:
        raise ExrError("Not an OpenEXR file.")
    (version,) = struct.unpack_from("<I", data, 4)
    if version & (0x200 | 0x800):
        raise ExrError("Tiled or deep EXR files are not supported.")
    multipart = bool(version & 0x1000)
    pos, headers = 8, []
    while True:
        header, pos = read_header(data, pos)
        headers.append(header)
        if not multipart or data[pos] == 0:
            break
    if multipart:
        pos += 1  # the empty header that ends the list
    out: dict[str, np.ndarray] = {}
    for part, header in enumerate(headers):
        if header.get("compression", b"\0")[:1] != b"\0":
            raise ExrError("Only uncompressed EXR files are supported.")
        xmin, ymin, xmax, ymax = struct.unpack("<iiii", header["dataWindow"])
        width, height = xmax - xmin + 1, ymax - ymin + 1
        channels = _channels(header["channels"])
        offsets = np.frombuffer(data, dtype="<u8", count=height, offset=pos)
        pos += 8 * height
        planes = {name: np.empty((height, width), dtype=dtype) for name, dtype in channels}
        skip = 4 if multipart else 0
        for offset in offsets.tolist():
            if multipart and struct.unpack_from("<i", data, offset)[0] != part:
                raise ExrError("A chunk belongs to an unexpected part.")
            y, _size = struct.unpack_from("<ii", data, offset + skip)
            cursor = offset + skip + 8
            for name, dtype in channels:
                planes[name][y - ymin] = np.frombuffer(data, dtype=dtype, count=width, offset=cursor)
                cursor += width * dtype.itemsize
        out.update(planes)
    return out
