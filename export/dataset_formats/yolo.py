"""YOLO in the Ultralytics layout: ``images/<split>/``, ``labels/<split>/<stem>.txt``, ``data.yaml``.

One line per object (:func:`annotate.geometry.objects_of`: the box, outline and keypoints of an
instance group are one object). The task follows from what the version holds:

- **pose** when it has keypoints: one line per object with keypoints,
  ``class cx cy w h x1 y1 v1 ... xK yK vK`` (normalized; unlabelled points 0 0 0; the box is the
  object's box part, else the box of its outline or of its visible points), and
  ``kpt_shape: [K, 3]`` with ``flip_idx`` pairing left and right keypoints by the rule of
  :mod:`annotate.keypoints` (``left*``/``right*`` names...), or by the ``flip_pairs`` of the
  augment recipe the version was built with, as augmentation paired them. Every keypoint
  class must have the same K (Ultralytics has one ``kpt_shape``). Objects of classes without
  keypoints are written as their boxes with all points unlabelled; objects of keypoint classes
  that have no keypoints are left out.
- **segment** when it has polygons or masks: ``class x1 y1 x2 y2 ...`` normalized, one line per
  object with an outline (a group's box is not written again). A polygon of
  several parts (and a mask's outer contours) becomes one outline, the parts joined by
  zero-width bridges, as Ultralytics expects one outline per object; objects that are just a box
  are written as its four corners so every line of the dataset is a polygon.
- **detect** otherwise: ``class cx cy w h`` normalized.

Every image gets a label file (empty for background images). Tags are not written (use
``imagefolder``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import cv2
import numpy as np
import yaml

from annotate.geometry import objects_of, rle_to_mask
from annotate.keypoints import flip_index
from datasets.models import DatasetVersion, VersionImage

from . import common

# Bump when the label-file text changes: versions built before have it made on the fly.
LINES_REVISION = 2  # 2: one line per object (instance groups)


def _keypoint_labels(version: DatasetVersion) -> list[dict]:
    return [label for label in version.labels if label.get("keypoint_names")]


def task_of(version: DatasetVersion, kinds: set[str] | None = None) -> str:
    """pose, segment or detect, from the version's annotation kinds (or the ``kinds`` given)."""
    kinds = common.kinds_of(version) if kinds is None else kinds
    if "keypoints" in kinds:
        return "pose"
    if kinds & {"polygon", "mask"}:
        return "segment"
    return "detect"


def check(version: DatasetVersion, kinds: set[str] | None = None) -> str | None:
    if task_of(version, kinds) == "pose":
        sizes = {len(label["keypoint_names"]) for label in _keypoint_labels(version)}
        if len(sizes) > 1:
            return ("YOLO pose needs every keypoint class to have the same number of keypoints; "
                    f"this version has classes with {sorted(sizes)} keypoints.")
    return None


def _recipe_flip_pairs(version: DatasetVersion, label_name: str) -> list | None:
    """The augment recipe's ``flip_pairs`` for the label, as recorded when the version was requested."""
    augment = (version.params or {}).get("augment")
    pairs = augment.get("flip_pairs") if isinstance(augment, dict) else None
    return pairs.get(label_name) if isinstance(pairs, dict) else None


def data_yaml(version: DatasetVersion) -> bytes:
    data: dict = {"path": "."}
    for split in common.splits_of(version):
        data[split] = f"images/{split}"
    data["nc"] = len(version.labels)
    data["names"] = {i: name for i, name in enumerate(version.label_names)}
    if task_of(version) == "pose":
        first = _keypoint_labels(version)[0]
        names = first["keypoint_names"]
        data["kpt_shape"] = [len(names), 3]
        data["flip_idx"] = flip_index(list(names), _recipe_flip_pairs(version, first["name"]))
        data["kpt_names"] = {i: list(label["keypoint_names"])
                             for i, label in enumerate(version.labels) if label.get("keypoint_names")}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def _fmt(values) -> str:
    """Normalized coordinates with 6 decimals (a millionth of the image: far below a pixel)."""
    return " ".join([f"{v:.6f}" for v in values])


def join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """One outline through several closed parts: from each part, go to the nearest point of the
    next and back again (a zero-width bridge), so the filled area is the union of the parts."""
    path = parts[0]
    for part in parts[1:]:
        distances = ((path[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
        a, b = np.unravel_index(int(distances.argmin()), distances.shape)
        loop = np.concatenate([part[b:], part[:b + 1]])
        path = np.concatenate([path[:a + 1], loop, path[a:]])
    return path


def mask_parts(geometry: dict) -> list[np.ndarray]:
    mask = rle_to_mask(geometry)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]
    return sorted(parts, key=lambda p: -cv2.contourArea(p.astype(np.float32)))


def outline(annotation: dict) -> np.ndarray | None:
    kind, geometry = annotation["kind"], annotation["geometry"]
    if kind == "polygon":
        parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in geometry["polygons"]]
    elif kind == "mask":
        parts = mask_parts(geometry)
    elif kind == "box":
        x, y, w, h = geometry["x"], geometry["y"], geometry["w"], geometry["h"]
        parts = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)]
    else:
        return None
    return join_parts(parts) if parts else None


def label_lines(annotations: list[dict], *, width: int, height: int, task: str, indexes: dict[str, int],
                keypoint_count: int, keypoint_label_names: set[str]) -> list[str]:
    """The label-file lines of one image: one per object (see the module's docstring)."""
    lines = []
    scale = np.array([width, height], dtype=np.float64)
    for obj in objects_of(annotations):
        cls = indexes[obj.label]
        if task == "segment":
            if obj.outline is not None:
                points = outline(obj.outline)
                if points is not None:
                    lines.append(f"{cls} " + _fmt(np.clip(points / scale, 0.0, 1.0).ravel().tolist()))
            elif obj.box is not None:  # its four corners, without numpy for the common case
                g = obj.box["geometry"]
                x0, y0 = g["x"] / width, g["y"] / height
                x1, y1 = min((g["x"] + g["w"]) / width, 1.0), min((g["y"] + g["h"]) / height, 1.0)
                lines.append(f"{cls} {x0:.6f} {y0:.6f} {x1:.6f} {y0:.6f} {x1:.6f} {y1:.6f} {x0:.6f} {y1:.6f}")
            continue
        if task == "pose" and obj.keypoints is None and obj.label in keypoint_label_names:
            continue
        box = obj.bbox()
        if box is None or box[2] <= 0 or box[3] <= 0:
            continue
        x, y, w, h = box
        line = f"{cls} " + _fmt([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height])
        if task == "pose":
            if obj.keypoints is not None:
                parts = []
                for px, py, v in obj.keypoints["geometry"]["points"]:
                    parts.append(f"{px / width:.6f} {py / height:.6f} {int(v)}" if v else "0 0 0")
                line += " " + " ".join(parts)
            else:
                line += " " + " ".join(["0 0 0"] * keypoint_count)
        lines.append(line)
    return lines


class _LineMaker:
    """Label-file text of one image, for the version's task."""

    def __init__(self, version: DatasetVersion, kinds: set[str] | None = None):
        self.task = task_of(version, kinds)
        self.indexes = common.label_indexes(version)
        keypoint_labels = _keypoint_labels(version)
        self.keypoint_count = len(keypoint_labels[0]["keypoint_names"]) if keypoint_labels else 0
        self.keypoint_label_names = {label["name"] for label in keypoint_labels}

    def text(self, annotations: list[dict], width: int, height: int) -> str:
        lines = label_lines(annotations, width=width, height=height, task=self.task, indexes=self.indexes,
                            keypoint_count=self.keypoint_count, keypoint_label_names=self.keypoint_label_names)
        return "\n".join(lines) + "\n" if lines else ""


class Materializer:
    """The label-file text of every image, made once while the version is frozen."""

    name = "yolo"
    revision = LINES_REVISION

    def key(self, version: DatasetVersion, kinds: set[str]) -> str:
        return task_of(version, kinds)

    def row_text(self, version: DatasetVersion, kinds: set[str]):
        if check(version, kinds):
            return None
        maker = _LineMaker(version, kinds)

        def text(annotations: list[dict], *, index: int, offset: int, width: int, height: int) -> str:
            return maker.text(annotations, width, height)

        return text


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    ticker = common.Ticker(version, progress)
    stored = version.materialized.get("yolo") == LINES_REVISION
    maker = None if stored else _LineMaker(version)
    yield common.MANIFEST_NAME, common.manifest(version, "yolo", with_images)
    yield "data.yaml", data_yaml(version)
    for split in common.splits_of(version):
        queryset = VersionImage.objects.filter(version=version, split=split)
        if stored:
            texts = common.paged(queryset, ("index", "file", "file_name", "yolo"))
        else:
            texts = ((row.index, row.file, row.file_name, maker.text(row.annotations, row.width, row.height))
                     for row in common.rows(version, split))
        for _index, file, file_name, text in texts:
            yield f"labels/{split}/{PurePosixPath(file_name).stem}.txt", text.encode()
            if with_images:
                yield f"images/{split}/{file_name}", common.media_file(file)
            ticker.tick(f"Writing {split}")
