"""Apply a recipe to one image and its annotations, keeping every annotation exact.

Everything geometric goes through the same ``A.Compose`` call as the pixels, so boxes, polygons,
masks and keypoints move together with the image:

- **masks** are decoded (:func:`annotate.geometry.rle_to_mask`), transformed as masks (nearest
  neighbour), re-encoded (:func:`annotate.geometry.mask_to_rle`) and dropped when nothing is left;
- **polygons** have their vertices transformed as keypoints -- exact for flips, rotations, affine
  and perspective warps -- then are clipped to the frame (Sutherland-Hodgman); parts that vanish
  are dropped, and the annotation with them when no part is left. When the recipe holds a warp
  that bends straight lines (elastic, grid, optical distortion...), polygons and boxes are instead
  rasterised, warped with the image and re-traced (polygons) or re-measured (boxes);
- **boxes** have their four corners transformed and become the box enclosing them, clipped to the
  frame (a rotated object's box grows to hold it, as it must); a box under a pixel wide or high
  after clipping is dropped. Every output annotation also carries ``bbox`` ([x, y, w, h]): for a
  mask or polygon it is derived from the transformed shape (:func:`annotate.geometry.bounding_box`),
  never from a transformed box, so it stays tight under rotation;
- **keypoints** are never dropped, so COCO keypoint lists keep their length: a point pushed out of
  the frame stays in its place with ``[0, 0, 0]``; a point that was not labelled stays
  ``[0, 0, 0]``; and when the geometry is mirrored (an odd number of flips, however combined)
  left and right keypoints trade places, using pairs derived from the label's keypoint names
  (:mod:`annotate.keypoints`: ``left_*`` / ``right_*``, ``l_*`` / ``r_*``...) or given per label
  in the recipe's ``flip_pairs``.

Coordinates are in pixels of the image with the origin at the top-left corner of the top-left
pixel, as stored. albumentations treats keypoints as pixel *indices* (centre of pixel 0 at 0), so
they are shifted by half a pixel on the way in and out.

No Django here: worker processes of the offline engine import this module directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import cv2
import numpy as np

from annotate.geometry import bounding_box, mask_box, mask_to_rle, rle_to_mask, validate_geometry
from annotate.keypoints import mirror_pairs

from .recipes import build_compose, uses_bbox_aware_crop, uses_nonlinear_warp

MIN_BOX_SIDE = 1.0  # pixels; thinner boxes after clipping are no longer objects
MIN_POLYGON_AREA = 1.0  # square pixels


@dataclass(frozen=True)
class LabelInfo:
    """What the pipeline needs of a label class: its name (for ``flip_pairs``) and keypoint names."""

    name: str
    keypoint_names: tuple[str, ...] = ()


def _flip_index_pairs(spec: dict, labels: Mapping[Any, LabelInfo]) -> dict[Any, list[tuple[int, int]]]:
    """Per label, the keypoint index pairs a mirror swaps (:func:`annotate.keypoints.mirror_pairs`)."""
    overrides = spec.get("flip_pairs") or {}
    return {
        key: mirror_pairs(info.keypoint_names, overrides.get(info.name))
        for key, info in labels.items()
        if info.keypoint_names
    }


def _clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clipping of a polygon (n, 2) to the rectangle [0, width] x [0, height]."""
    def clip(pts: np.ndarray, axis: int, bound: float, keep_below: bool) -> np.ndarray:
        if len(pts) == 0:
            return pts
        out = []
        prev = pts[-1]
        prev_in = prev[axis] <= bound if keep_below else prev[axis] >= bound
        for cur in pts:
            cur_in = cur[axis] <= bound if keep_below else cur[axis] >= bound
            if cur_in != prev_in:
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(prev + t * (cur - prev))
            if cur_in:
                out.append(cur)
            prev, prev_in = cur, cur_in
        return np.array(out, dtype=np.float64).reshape(-1, 2)

    pts = points.astype(np.float64)
    if len(pts) and pts.min() >= 0 and pts[:, 0].max() <= width and pts[:, 1].max() <= height:
        return pts  # wholly inside: nothing to cut
    pts = clip(pts, 0, 0.0, keep_below=False)
    pts = clip(pts, 0, float(width), keep_below=True)
    pts = clip(pts, 1, 0.0, keep_below=False)
    pts = clip(pts, 1, float(height), keep_below=True)
    if len(pts):
        pts[:, 0] = np.clip(pts[:, 0], 0.0, width)
        pts[:, 1] = np.clip(pts[:, 1], 0.0, height)
    return pts


def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0]))


@dataclass
class _Plan:
    """Where each annotation's points and rasters sit in what is sent through the Compose."""

    points: list[np.ndarray] = field(default_factory=list)
    slices: list[tuple[int, int] | None] = field(default_factory=list)
    mask_slot: list[int | None] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    bboxes: list[list[float]] = field(default_factory=list)
    bbox_ids: list[int] = field(default_factory=list)
    count: int = 0

    def add_points(self, pts: np.ndarray) -> tuple[int, int]:
        start = self.count
        self.points.append(pts.reshape(-1, 2).astype(np.float32))
        self.count += len(self.points[-1])
        return start, self.count

    def add_mask(self, mask: np.ndarray) -> int:
        self.masks.append(mask)
        return len(self.masks) - 1


def _tight_boxes_follow(before: Sequence[dict], after: list[dict]) -> list[dict]:
    """In an object group, a box that was the tight box of the object's mask or polygon stays so.

    Transformed as four corners, a box grows under rotation while its mask does not; the box of
    a synthetic or imported object is the tight box of its outline, and must remain that object's
    box after augmentation. Groups pass through untouched otherwise (the ``group`` key travels
    with each part), so a mirrored object's box, mask and keypoints stay one object.
    """
    tight_before: set = set()
    for group, parts in _groups(before).items():
        box, outline = parts.get("box"), parts.get("outline")
        if box is not None and outline is not None:
            tight = bounding_box(outline["kind"], outline["geometry"])
            g = box["geometry"]
            if tight and all(abs(a - b) <= 1.0 for a, b in zip(tight, (g["x"], g["y"], g["w"], g["h"]))):
                tight_before.add(group)
    if not tight_before:
        return after
    for group, parts in _groups(after).items():
        box, outline = parts.get("box"), parts.get("outline")
        if group in tight_before and box is not None and outline is not None and outline.get("bbox"):
            x, y, w, h = outline["bbox"]
            if w >= MIN_BOX_SIDE and h >= MIN_BOX_SIDE:
                box["geometry"] = {"x": x, "y": y, "w": w, "h": h}
                box["bbox"] = [x, y, w, h]
    return after


def _groups(annotations: Sequence[dict]) -> dict[Any, dict[str, dict]]:
    """group -> {"box": part, "outline": part} of the grouped boxes and outlines."""
    out: dict[Any, dict[str, dict]] = {}
    for ann in annotations:
        group = ann.get("group")
        if group is None:
            continue
        if ann["kind"] == "box":
            out.setdefault(group, {})["box"] = ann
        elif ann["kind"] in ("mask", "polygon"):
            out.setdefault(group, {})["outline"] = ann
    return out


def _rasterise(parts: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Fill polygon parts (continuous pixel coordinates) into a 0/1 mask, sub-pixel accurate."""
    mask = np.zeros((height, width), dtype=np.uint8)
    shift = 4
    scaled = [np.round((part - 0.5) * (1 << shift)).astype(np.int32).reshape(-1, 1, 2) for part in parts]
    cv2.fillPoly(mask, scaled, 1, lineType=cv2.LINE_8, shift=shift)
    return mask


def _trace(mask: np.ndarray) -> list[list[float]]:
    """Outer outlines of a 0/1 mask as polygon parts, in continuous pixel coordinates."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = []
    for contour in contours:
        contour = cv2.approxPolyDP(contour, 0.5, True).reshape(-1, 2).astype(np.float64) + 0.5
        if len(contour) >= 3 and _polygon_area(contour) >= MIN_POLYGON_AREA:
            parts.append([round(float(v), 3) for v in contour.reshape(-1)])
    return parts


class Augmenter:
    """One recipe, ready to apply to many samples: build once, call per image.

    ``labels`` maps the ``label`` value found in annotations (an id or a name, whatever the caller
    uses) to :class:`LabelInfo`; labels with keypoints need it, others may be left out.
    """

    def __init__(self, spec: dict, *, labels: Mapping[Any, LabelInfo] | None = None):
        self.spec = spec
        self.labels = dict(labels or {})
        self.compose: A.Compose = build_compose(spec)
        self.flip_pairs = _flip_index_pairs(spec, self.labels)
        # Bending warps move straight edges: then boxes and polygons travel as rasters.
        self.raster_shapes = uses_nonlinear_warp(spec)
        self.pass_bboxes = uses_bbox_aware_crop(spec)

    def __call__(self, image: np.ndarray, annotations: Sequence[dict], *, seed: int) -> tuple[np.ndarray, list[dict]]:
        """Augment ``image`` (H x W x 3 uint8 RGB) and its annotations, deterministically for ``seed``.

        Annotations are dicts with ``kind``, ``geometry`` and ``label``; any other keys (``id``,
        ``attributes``...) are passed through. Returns the new image and the annotations that
        survive, in the input order, with geometry in pixels of the new image and a ``bbox``.
        """
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"Expected an H x W x 3 uint8 RGB image, got {image.dtype} {image.shape}.")
        height, width = image.shape[:2]
        plan = _Plan()
        # A small right-handed triangle at the centre: after the transform, the sign of its
        # orientation says whether the geometry was mirrored.
        cx, cy, r = width / 2.0, height / 2.0, max(min(width, height) / 8.0, 1.0)
        plan.add_points(np.array([[cx, cy], [cx + r, cy], [cx, cy + r]]))
        for i, ann in enumerate(annotations):
            self._plan_one(plan, i, ann, width, height)
        result = self._run(image, plan, seed)
        out_image = result["image"]
        out_h, out_w = out_image.shape[:2]
        # Some warps drop keypoints that leave the frame whatever we ask: realign by id.
        moved = np.full((plan.count, 2), np.nan)
        ids = np.asarray(result["keypoint_ids"], dtype=np.int64)
        if len(ids):
            moved[ids] = np.asarray(result["keypoints"], dtype=np.float64).reshape(-1, 2)[:, :2] + 0.5
        a, b, c = moved[0], moved[1], moved[2]
        cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        mirrored = bool(np.isfinite(cross) and cross < 0)
        out_masks = result.get("masks", [])
        out = []
        for i, ann in enumerate(annotations):
            geometry = self._finish_one(plan, i, ann, moved, out_masks, out_w, out_h, mirrored)
            if geometry is not None:
                box = bounding_box(ann["kind"], geometry)
                out.append({**ann, "geometry": geometry, "bbox": [float(v) for v in box] if box else None})
        return out_image, _tight_boxes_follow(annotations, out)

    # --- internals ------------------------------------------------------------------------------
    def _plan_one(self, plan: _Plan, i: int, ann: dict, width: int, height: int) -> None:
        kind, geometry = ann["kind"], ann.get("geometry") or {}
        plan.mask_slot.append(None)
        plan.slices.append(None)
        if kind == "box":
            x, y, w, h = (float(geometry[k]) for k in ("x", "y", "w", "h"))
            corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
            plan.slices[i] = plan.add_points(corners)
            if self.raster_shapes:
                box_mask = np.zeros((height, width), dtype=np.uint8)
                box_mask[round(y):max(round(y + h), round(y) + 1), round(x):max(round(x + w), round(x) + 1)] = 1
                plan.mask_slot[i] = plan.add_mask(box_mask)
            self._add_bbox(plan, i, x, y, w, h, width, height)
        elif kind == "polygon":
            parts = [np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in geometry["polygons"]]
            allpts = np.concatenate(parts)
            plan.slices[i] = plan.add_points(allpts)
            if self.raster_shapes:
                plan.mask_slot[i] = plan.add_mask(_rasterise(parts, width, height))
            x0, y0 = allpts.min(axis=0)
            x1, y1 = allpts.max(axis=0)
            self._add_bbox(plan, i, x0, y0, x1 - x0, y1 - y0, width, height)
        elif kind == "keypoints":
            pts = np.asarray([[p[0], p[1]] for p in geometry["points"]], dtype=np.float64).reshape(-1, 2)
            plan.slices[i] = plan.add_points(pts)
        elif kind == "mask":
            mask = rle_to_mask(geometry)
            if mask.shape != (height, width):
                raise ValueError(f"annotation {i}: the mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}.")
            plan.mask_slot[i] = plan.add_mask(mask)
            box = mask_box(mask) if self.pass_bboxes else None
            if box is not None:
                self._add_bbox(plan, i, *box, width, height)

    def _add_bbox(self, plan: _Plan, i: int, x, y, w, h, width: int, height: int) -> None:
        if not self.pass_bboxes:
            return
        x0, y0 = max(float(x), 0.0), max(float(y), 0.0)
        x1, y1 = min(float(x) + float(w), width), min(float(y) + float(h), height)
        if x1 - x0 > 0 and y1 - y0 > 0:
            plan.bboxes.append([x0, y0, x1 - x0, y1 - y0])
            plan.bbox_ids.append(i)

    def _run(self, image: np.ndarray, plan: _Plan, seed: int) -> dict:
        self.compose.set_random_seed(int(seed) % 2**32)
        data: dict[str, Any] = {
            "image": image,
            "keypoints": np.concatenate(plan.points) - 0.5,
            "keypoint_ids": list(range(plan.count)),
        }
        if self.pass_bboxes:
            data["bboxes"] = np.asarray(plan.bboxes, dtype=np.float32).reshape(-1, 4)
            data["bbox_ids"] = plan.bbox_ids
        if plan.masks:
            data["masks"] = plan.masks
        return self.compose(**data)

    def _finish_one(self, plan, i, ann, moved, out_masks, width, height, mirrored):
        kind, geometry = ann["kind"], ann.get("geometry") or {}
        if kind == "tag":
            return {}
        if plan.mask_slot[i] is not None:
            mask = np.asarray(out_masks[plan.mask_slot[i]]) > 0
            if not mask.any():
                return None
            if kind == "mask":
                return mask_to_rle(mask)
            if kind == "box":
                x0, y0, w, h = mask_box(mask)
                if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
                    return None
                return {"x": x0, "y": y0, "w": w, "h": h}
            parts = _trace(mask)
            return validate_geometry("polygon", {"polygons": parts}, width=width, height=height) if parts else None
        start, end = plan.slices[i]
        pts = moved[start:end]
        if kind == "box":
            if not np.isfinite(pts).all():
                return None
            (lo_x, lo_y), (hi_x, hi_y) = pts.min(axis=0), pts.max(axis=0)
            x0, x1 = min(max(float(lo_x), 0.0), width), min(max(float(hi_x), 0.0), width)
            y0, y1 = min(max(float(lo_y), 0.0), height), min(max(float(hi_y), 0.0), height)
            if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
                return None
            return validate_geometry(
                "box", {"x": float(x0), "y": float(y0), "w": float(x1 - x0), "h": float(y1 - y0)},
                width=width, height=height,
            )
        if kind == "polygon":
            parts, offset = [], 0
            for part in geometry["polygons"]:
                n = len(part) // 2
                piece = pts[offset:offset + n]
                offset += n
                if not np.isfinite(piece).all():
                    continue
                clipped = _clip_polygon(piece, width, height)
                if len(clipped) >= 3 and _polygon_area(clipped) >= MIN_POLYGON_AREA:
                    parts.append([round(float(v), 3) for v in clipped.reshape(-1)])
            if not parts:
                return None
            return validate_geometry("polygon", {"polygons": parts}, width=width, height=height)
        if kind == "keypoints":
            out = []
            for (x, y), src in zip(pts, geometry["points"]):
                v = int(src[2])
                inside = np.isfinite(x) and np.isfinite(y) and 0 <= x <= width and 0 <= y <= height
                out.append([float(x), float(y), v] if v > 0 and inside else [0.0, 0.0, 0])
            if mirrored:
                for a, b in self.flip_pairs.get(ann.get("label"), []):
                    out[a], out[b] = out[b], out[a]
            return {"points": out}
        return dict(geometry)
