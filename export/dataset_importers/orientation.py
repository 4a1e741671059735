"""Moving annotations drawn on an image as stored in the file onto the upright image.

Stored images are upright: their EXIF orientation is applied once on upload
(:mod:`annotate.imaging`). A dataset made by a tool that ignores EXIF describes the raw pixels
instead; for orientations 5 to 8 (a quarter turn) that shows, because it gives the raw size,
width and height swapped. Such annotations are carried over with the same transposition Pillow
applies to the pixels, so they land on the same pixels.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage
from pycocotools import mask as mask_utils

from annotate.geometry import mask_to_rle, rle_to_mask

EXIF_ORIENTATION = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)


def orientation_of(data: bytes) -> int:
    """The EXIF orientation of an image file (1 when it has none)."""
    try:
        return int(PILImage.open(io.BytesIO(data)).getexif().get(EXIF_ORIENTATION, 1) or 1)
    except (OSError, ValueError, TypeError):
        return 1


def point_to_upright(x: float, y: float, orientation: int, width: int, height: int) -> tuple[float, float]:
    """Where the raw image's point (x, y) lands once upright; ``width`` x ``height`` is the raw size."""
    return {
        2: (width - x, y),
        3: (width - x, height - y),
        4: (x, height - y),
        5: (y, x),
        6: (height - y, x),
        7: (height - y, width - x),
        8: (y, width - x),
    }.get(orientation, (x, y))


def _mask_to_upright(mask: np.ndarray, orientation: int) -> np.ndarray:
    ops = {
        2: lambda m: m[:, ::-1],
        3: lambda m: m[::-1, ::-1],
        4: lambda m: m[::-1, :],
        5: lambda m: m.T,
        6: lambda m: np.rot90(m, -1),
        7: lambda m: m[::-1, ::-1].T,
        8: lambda m: np.rot90(m, 1),
    }
    return np.ascontiguousarray(ops[orientation](mask)) if orientation in ops else mask


def to_upright(kind: str, geometry: dict, orientation: int, width: int, height: int) -> dict:
    """Geometry on the raw ``width`` x ``height`` image, moved onto the upright image.

    Malformed geometry is returned as it is, for validation to report.
    """
    if orientation not in range(2, 9):
        return geometry
    try:
        if kind == "box":
            x0, y0 = point_to_upright(geometry["x"], geometry["y"], orientation, width, height)
            x1, y1 = point_to_upright(
                geometry["x"] + geometry["w"], geometry["y"] + geometry["h"], orientation, width, height
            )
            return {"x": min(x0, x1), "y": min(y0, y1), "w": abs(x1 - x0), "h": abs(y1 - y0)}
        if kind == "polygon":
            parts = []
            for part in geometry["polygons"]:
                moved = []
                for i in range(0, len(part) - 1, 2):
                    moved.extend(point_to_upright(part[i], part[i + 1], orientation, width, height))
                parts.append(moved)
            return {"polygons": parts}
        if kind == "keypoints":
            return {
                "points": [
                    [*point_to_upright(x, y, orientation, width, height), v] if v else [x, y, v]
                    for x, y, v in geometry["points"]
                ]
            }
        if kind == "mask":
            rle = geometry["rle"]
            counts = rle["counts"]
            if isinstance(counts, list):
                counts = mask_utils.frPyObjects(rle, *rle["size"])["counts"].decode("ascii")
            mask = rle_to_mask({"rle": {"size": rle["size"], "counts": counts}})
            return mask_to_rle(_mask_to_upright(mask, orientation))
    except (KeyError, TypeError, ValueError, IndexError):
        return geometry
    return geometry
