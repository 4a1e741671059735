"""The one place that validates annotation geometry.

Serializers, importers and generators all call :func:`validate_geometry`; it returns a cleaned
copy (floats, masks always as compressed RLE strings) or raises :class:`GeometryError` with a
sentence a person can act on. Coordinates are pixels of the stored image, origin top-left.

- box: ``{"x", "y", "w", "h"}``; inside the image, positive size.
- polygon: ``{"polygons": [[x1, y1, x2, y2, ...], ...]}``; each part has >= 3 points inside the image.
- mask: ``{"rle": {"size": [h, w], "counts": "..."}}``; COCO RLE of the whole image that decodes
  to exactly ``h * w`` pixels and is not empty. Uncompressed counts (a list) are accepted and
  compressed.
- keypoints: ``{"points": [[x, y, v], ...]}``, one per name of the label's ``keypoint_names``;
  ``v`` is 0 (not labelled), 1 (labelled, hidden) or 2 (visible). Points with v = 0 are stored as 0, 0.
- tag: ``{}``.

Instance groups: the annotations of one object (say a box, a mask and a keypoints set of one
person) share a positive ``group`` number within their image; a single-geometry object needs
none. :func:`validate_groups` holds the rules (one label per group, at most one box, one
mask-or-polygon and one keypoints set; tags are never grouped), :func:`groups_renumber` the
canonical numbering every writer of rows stores (1..n in order of first appearance, a group of
one part is no group), and :func:`objects_of` turns an image's annotations into its objects,
which is what every dataset format writes and every count counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from pycocotools import mask as mask_utils

KINDS = ("tag", "box", "polygon", "mask", "keypoints")
# A point may sit on the far edge of the image (x == width) and on tiny rounding beyond it.
EDGE_TOLERANCE = 1e-6


class GeometryError(ValueError):
    """Geometry that cannot be stored; the message says what is wrong."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeometryError(f"{what} must be a number, got {value!r}.")
    number = float(value)
    if not math.isfinite(number):
        raise GeometryError(f"{what} must be a finite number, got {value!r}.")
    return number


def _inside(x: float, y: float, width: int, height: int, what: str) -> None:
    if not (-EDGE_TOLERANCE <= x <= width + EDGE_TOLERANCE and -EDGE_TOLERANCE <= y <= height + EDGE_TOLERANCE):
        raise GeometryError(f"{what} ({x:g}, {y:g}) lies outside the {width}x{height} image.")


def _box(geometry: dict, width: int, height: int) -> dict:
    missing = [k for k in ("x", "y", "w", "h") if k not in geometry]
    if missing:
        raise GeometryError(f"A box needs x, y, w and h; missing {', '.join(missing)}.")
    x, y, w, h = (_number(geometry[k], f"box {k}") for k in ("x", "y", "w", "h"))
    if w <= 0 or h <= 0:
        raise GeometryError(f"A box needs a positive width and height, got w={w:g}, h={h:g}.")
    _inside(x, y, width, height, "The box's top-left corner")
    _inside(x + w, y + h, width, height, "The box's bottom-right corner")
    return {"x": x, "y": y, "w": w, "h": h}


def _polygon(geometry: dict, width: int, height: int) -> dict:
    parts = geometry.get("polygons")
    if not isinstance(parts, list) or not parts:
        raise GeometryError("A polygon needs 'polygons': a list of parts, each [x1, y1, x2, y2, ...].")
    cleaned = []
    for i, part in enumerate(parts):
        if not isinstance(part, list) or len(part) % 2:
            raise GeometryError(f"Polygon part {i} must be a flat list of x, y pairs.")
        if len(part) < 6:
            raise GeometryError(f"Polygon part {i} has {len(part) // 2} points; at least 3 are needed.")
        coords = [_number(v, f"polygon part {i} coordinate") for v in part]
        for j in range(0, len(coords), 2):
            _inside(coords[j], coords[j + 1], width, height, f"Polygon part {i} point {j // 2}")
        cleaned.append(coords)
    return {"polygons": cleaned}


def rle_counts_max_length(pixels: int) -> int:
    """The longest compressed RLE string an image of ``pixels`` pixels can have.

    At most ``pixels + 1`` runs, each at most ``pixels`` long; a run is coded as the difference
    to the run two before it (so up to twice as large, plus a sign bit) in 5-bit characters.
    Anything longer cannot be a mask of this image, and is refused before it is decoded.
    """
    chars_per_run = -(-(max(pixels, 1).bit_length() + 2) // 5)
    return (pixels + 1) * chars_per_run


def _rle_counts_total(counts: str, pixels: int) -> int:
    """Decode COCO's compressed RLE string and return the number of pixels it covers.

    Done here rather than trusting pycocotools, whose C decoder reads malformed strings without
    complaint (and may write past its buffer when the runs add up to more than the image). The
    length is checked against what the image allows first; the decoding is vectorised (a 20 MB
    string of a 12 MP image takes ~2 s on a 2-core machine, where a character loop took ~20 s).

    The format: each run is a number in 5-bit groups, least significant first, in characters
    ``48 + group`` with bit 0x20 meaning "more groups follow" and bit 0x10 of the last group the
    sign; from the fourth run on, a run is stored as the difference to the run two before it.
    """
    if len(counts) > rle_counts_max_length(pixels):
        raise GeometryError(
            f"The mask's RLE counts are {len(counts)} characters long; a mask of a {pixels}-pixel image has "
            f"at most {rle_counts_max_length(pixels)}."
        )
    if not counts:
        return 0
    try:
        chars = np.frombuffer(counts.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        chars = None
    if chars is None or chars.min() < 48 or chars.max() >= 48 + 64:
        bad = next(ch for ch in counts if not 0 <= ord(ch) - 48 < 64)
        raise GeometryError(f"The mask's RLE counts contain an invalid character {bad!r}.")
    raw = chars - np.uint8(48)
    more = (raw & 0x20) != 0
    if more[-1]:
        raise GeometryError("The mask's RLE counts end in the middle of a number.")
    ends = np.flatnonzero(~more)  # the last character of each number
    starts = np.concatenate(([0], ends[:-1] + 1))
    longest = int((ends - starts).max()) + 1
    if longest > -(-(max(pixels, 1).bit_length() + 2) // 5) + 1:  # more digits than this image's runs need
        raise GeometryError("The mask's RLE counts hold a run longer than the image.")
    lengths = ends - starts + 1
    values = (raw[starts] & 0x1F).astype(np.int64)
    for k in range(1, longest):  # the k-th group of every number that has one
        has = np.flatnonzero(lengths > k)
        values[has] |= (raw[starts[has] + k] & 0x1F).astype(np.int64) << (5 * k)
    negative = (raw[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * lengths[negative])  # sign extension
    if np.abs(values).max() > pixels:  # a run, or the difference of two, beyond the image
        raise GeometryError("The mask's RLE counts hold a run longer than the image.")
    runs = values.copy()  # undo the deltas: runs[i] = values[i] + runs[i - 2] from i = 3 on
    if len(runs) > 3:
        runs[3::2] = values[1] + np.cumsum(values[3::2])
    if len(runs) > 4:
        runs[4::2] = values[2] + np.cumsum(values[4::2])
    below = np.flatnonzero(runs < 0)
    totals = np.cumsum(np.minimum(runs, pixels + 1))  # any run beyond the image ends it: no overflow
    over = np.flatnonzero(totals > pixels)
    if below.size and (not over.size or below[0] <= over[0]):
        raise GeometryError("The mask's RLE counts decode to a negative run length.")
    return int(totals[over[0]]) if over.size else int(totals[-1])


def _mask(geometry: dict, width: int, height: int) -> dict:
    rle = geometry.get("rle")
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise GeometryError("A mask needs 'rle': {'size': [h, w], 'counts': ...} (COCO RLE).")
    size = rle["size"]
    if not (isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        raise GeometryError("The mask's RLE size must be [height, width].")
    if list(size) != [height, width]:
        raise GeometryError(f"The mask's RLE size {list(size)} does not match the image [{height}, {width}].")
    counts = rle["counts"]
    if isinstance(counts, list):
        if len(counts) > height * width + 1:
            raise GeometryError(f"The mask's RLE has {len(counts)} runs; a {width}x{height} image allows at most {height * width + 1}.")
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise GeometryError("Uncompressed RLE counts must be non-negative integers.")
        if sum(counts) != height * width:
            raise GeometryError(f"The mask's RLE covers {sum(counts)} pixels; the image has {height * width}.")
        counts = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)["counts"]
        counts = counts.decode("ascii")
    elif isinstance(counts, str):
        total = _rle_counts_total(counts, height * width)
        if total != height * width:
            raise GeometryError(f"The mask's RLE covers {total} pixels; the image has {height * width}.")
    else:
        raise GeometryError("The mask's RLE counts must be a string (compressed) or a list of integers.")
    compressed = {"size": [height, width], "counts": counts.encode("ascii")}
    if int(mask_utils.area(compressed)) == 0:
        raise GeometryError("The mask is empty.")
    return {"rle": {"size": [height, width], "counts": counts}}


def _keypoints(geometry: dict, width: int, height: int, keypoint_names: Sequence[str]) -> dict:
    if not keypoint_names:
        raise GeometryError("This label has no keypoint names, so it cannot hold keypoints.")
    points = geometry.get("points")
    if not isinstance(points, list):
        raise GeometryError("Keypoints need 'points': a list of [x, y, v].")
    if len(points) != len(keypoint_names):
        raise GeometryError(
            f"The label has {len(keypoint_names)} keypoints ({', '.join(keypoint_names)}); got {len(points)}."
        )
    cleaned = []
    for name, point in zip(keypoint_names, points):
        if not isinstance(point, list) or len(point) != 3:
            raise GeometryError(f"Keypoint {name!r} must be [x, y, v].")
        v = point[2]
        if v not in (0, 1, 2) or isinstance(v, bool):
            raise GeometryError(f"Keypoint {name!r} visibility must be 0, 1 or 2, got {v!r}.")
        x, y = _number(point[0], f"keypoint {name!r} x"), _number(point[1], f"keypoint {name!r} y")
        if v == 0:
            cleaned.append([0.0, 0.0, 0])
            continue
        _inside(x, y, width, height, f"Keypoint {name!r}")
        cleaned.append([x, y, int(v)])
    return {"points": cleaned}


def validate_geometry(
    kind: str, geometry: Any, *, width: int, height: int, keypoint_names: Sequence[str] = ()
) -> dict:
    """Return the cleaned geometry for an annotation of ``kind`` on a ``width`` x ``height`` image."""
    if kind not in KINDS:
        raise GeometryError(f"Unknown annotation kind {kind!r}; expected one of {', '.join(KINDS)}.")
    if not isinstance(geometry, dict):
        raise GeometryError("Geometry must be a JSON object.")
    if kind == "tag":
        return {}
    if kind == "box":
        return _box(geometry, width, height)
    if kind == "polygon":
        return _polygon(geometry, width, height)
    if kind == "mask":
        return _mask(geometry, width, height)
    return _keypoints(geometry, width, height, keypoint_names)


def mask_to_rle(mask: np.ndarray) -> dict:
    """A boolean/0-1 array (h, w) as the stored mask geometry (compressed COCO RLE)."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"rle": {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}}


def rle_to_mask(geometry: dict) -> np.ndarray:
    """Stored mask geometry back to a uint8 array of 0/1, shape (h, w)."""
    rle = geometry["rle"]
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")})


def mask_box(mask: np.ndarray | dict) -> tuple[float, float, float, float] | None:
    """The tight (x, y, w, h) pixel box of a mask, or None when no pixel is set.

    ``mask``: a boolean / 0-1 array (h, w), or stored mask geometry (``{"rle": ...}``). The box
    covers whole pixels: a mask of the single pixel (3, 4) is ``(3.0, 4.0, 1.0, 1.0)``. The one
    place a box is derived from a mask (synthetic images, augmentation, the compositor, writers).
    """
    if isinstance(mask, dict):
        rle = mask["rle"]
        x, y, w, h = mask_utils.toBbox({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
        return (float(x), float(y), float(w), float(h)) if w > 0 and h > 0 else None
    rows = np.any(mask, axis=1)
    if not rows.any():
        return None
    cols = np.any(mask, axis=0)
    y0, y1 = int(np.argmax(rows)), len(rows) - int(np.argmax(rows[::-1]))
    x0, x1 = int(np.argmax(cols)), len(cols) - int(np.argmax(cols[::-1]))
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def bounding_box(kind: str, geometry: dict) -> tuple[float, float, float, float] | None:
    """The (x, y, w, h) box that encloses an annotation, or None for tags and empty keypoints."""
    if kind == "box":
        return geometry["x"], geometry["y"], geometry["w"], geometry["h"]
    if kind == "polygon":
        xs = [v for part in geometry["polygons"] for v in part[0::2]]
        ys = [v for part in geometry["polygons"] for v in part[1::2]]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    if kind == "mask":
        return mask_box(geometry)
    if kind == "keypoints":
        pts = [(x, y) for x, y, v in geometry["points"] if v > 0]
        if not pts:
            return None
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    return None


# --- instance groups -------------------------------------------------------------------------
# The slot each groupable kind fills in its object; a group holds at most one of each.
GROUP_SLOTS = {"box": "box", "polygon": "outline", "mask": "outline", "keypoints": "keypoints"}
SLOT_WORDS = {"box": "box", "outline": "mask or polygon", "keypoints": "keypoints set"}


def group_number(value: Any) -> int | None:
    """A valid group value (a positive integer or None), or raise :class:`GeometryError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GeometryError(f"A group must be a positive integer or null, got {value!r}.")
    return value


def validate_groups(items: Sequence[Mapping]) -> dict[int, str]:
    """Check the groups of one image's annotations; returns ``{item index: problem}`` (empty: fine).

    ``items`` are mappings with ``label`` (an id or a name), ``kind`` and an optional ``group``.
    """
    problems: dict[int, str] = {}
    labels: dict[int, Any] = {}
    slots: dict[tuple[int, str], int] = {}
    for i, item in enumerate(items):
        group = item.get("group")
        if group is None:
            continue
        kind = item.get("kind")
        if kind == "tag":
            problems[i] = "A tag labels the whole image and cannot be part of an object group."
            continue
        if kind not in GROUP_SLOTS:
            continue  # the kind itself is reported by the caller
        label = item.get("label")
        if labels.setdefault(group, label) != label:
            problems[i] = f"Group {group} mixes labels {labels[group]!r} and {label!r}; an object has one label."
            continue
        slot = GROUP_SLOTS[kind]
        if (group, slot) in slots:
            problems[i] = (
                f"Group {group} already has a {SLOT_WORDS[slot]} (annotation {slots[group, slot]}); an object has at "
                "most one box, one mask or polygon and one keypoints set."
            )
            continue
        slots[group, slot] = i
    return problems


def groups_renumber(groups: Sequence[int | None]) -> list[int | None]:
    """The canonical form of an image's group values: 1..n in order of first appearance, and
    None for a group with a single part (it says nothing). Stored rows and frozen versions use
    it, so equal objects give equal rows whatever numbers an editor or a file used."""
    sizes: dict[int, int] = {}
    for group in groups:
        if group is not None:
            sizes[group] = sizes.get(group, 0) + 1
    numbers: dict[int, int] = {}
    out: list[int | None] = []
    for group in groups:
        if group is None or sizes[group] < 2:
            out.append(None)
        else:
            out.append(numbers.setdefault(group, len(numbers) + 1))
    return out


def annotations_regroup(annotations: list[dict]) -> list[dict]:
    """``annotations`` (dicts with an optional ``group`` key) with canonical groups: the key is
    set where an annotation is grouped and absent where it is not (see :func:`groups_renumber`)."""
    numbers = groups_renumber([a.get("group") for a in annotations])
    out = []
    for annotation, number in zip(annotations, numbers):
        if annotation.get("group") == number and ("group" in annotation) == (number is not None):
            out.append(annotation)  # already canonical: no copy
            continue
        rest = {k: v for k, v in annotation.items() if k != "group"}
        out.append(rest if number is None else {**rest, "group": number})
    return out


class ObjectParts(NamedTuple):
    """One object of an image: its label and its parts (annotation dicts; None where absent)."""

    label: Any
    box: dict | None
    outline: dict | None
    keypoints: dict | None

    @property
    def parts(self) -> list[dict]:
        return [p for p in (self.box, self.outline, self.keypoints) if p is not None]

    def bbox(self) -> tuple[float, float, float, float] | None:
        """The object's box: its box part, else the tight box of its outline, else that of its
        visible keypoints (an explicit ``bbox`` attribute of a keypoints set, from older imports,
        counts as its box)."""
        if self.box is not None:
            g = self.box["geometry"]
            return g["x"], g["y"], g["w"], g["h"]
        if self.outline is not None:
            return bounding_box(self.outline["kind"], self.outline["geometry"])
        if self.keypoints is not None:
            bbox = (self.keypoints.get("attributes") or {}).get("bbox")
            if isinstance(bbox, list) and len(bbox) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox
            ):
                return float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])
            return bounding_box("keypoints", self.keypoints["geometry"])
        return None


def objects_of(annotations: Sequence[Mapping]) -> list[ObjectParts]:
    """An image's objects in order (an object sits where its first part is); tags are not objects.

    Each annotation without a group is an object of its own; annotations sharing a group are one
    object. Groups are assumed valid (:func:`validate_groups`); were one to mix labels or hold two
    parts of a slot anyway, the odd part becomes an object of its own rather than being lost.
    """
    objects: list[dict] = []
    by_group: dict[tuple, dict] = {}
    for annotation in annotations:
        kind = annotation["kind"]
        slot = GROUP_SLOTS.get(kind)
        if slot is None:
            continue
        group = annotation.get("group")
        key = (group, annotation["label"])
        current = by_group.get(key) if group is not None else None
        if current is None or slot in current:
            current = {"label": annotation["label"]}
            objects.append(current)
            if group is not None:
                by_group[key] = current
        current[slot] = annotation
    return [ObjectParts(o["label"], o.get("box"), o.get("outline"), o.get("keypoints")) for o in objects]
