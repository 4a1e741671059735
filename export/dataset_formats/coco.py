"""COCO: ``annotations/instances_<split>.json`` per split, images under ``images/<split>/``.

- categories: ids 1..n in the version's label order (contiguous), names kept; keypoint classes
  carry ``keypoints`` (names) and ``skeleton`` (COCO's skeleton is 1-based).
- boxes: ``bbox`` with an empty segmentation; polygons stay polygons; masks are compressed RLE
  (``iscrowd`` from the annotation's ``iscrowd`` attribute, 0 otherwise); keypoints are
  ``[x, y, v] * K`` with ``num_keypoints`` and a box (the ``bbox`` attribute, else the visible
  points' extent).
- image ids are the version's index + 1 and annotation ids are unique in the whole version, so
  they are the same whichever split file you read.
- each image's annotation entries are made once, when the version is built (it is immutable),
  and stored with it; an export concatenates them. Versions built before a change of the entry
  form (:data:`FRAGMENT_REVISION`) have them made on the fly.
- tags (image-level classes) have no place in COCO instances and are not written (use
  ``imagefolder`` or ``csv``).

The JSON is generated piece by piece, two passes over the split (images, then annotations), so
its size does not bound memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pycocotools import mask as mask_utils

from datasets.models import DatasetVersion, VersionImage

from . import common

# Bump when the form of an annotation entry changes: versions built before keep working (their
# stored entries are not used, entries are made on the fly) and exports change their ETag.
FRAGMENT_REVISION = 1
_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def check(version: DatasetVersion) -> str | None:
    return None


def categories(version: DatasetVersion) -> list[dict]:
    out = []
    for i, label in enumerate(version.labels, start=1):
        category = {"id": i, "name": label["name"], "supercategory": ""}
        if label.get("keypoint_names"):
            category["keypoints"] = list(label["keypoint_names"])
            category["skeleton"] = [[a + 1, b + 1] for a, b in label.get("skeleton") or []]
        out.append(category)
    return out


def _polygon_area(polygons: list[list[float]], height: int, width: int) -> float:
    rles = mask_utils.frPyObjects(polygons, height, width)
    return float(mask_utils.area(mask_utils.merge(rles)))


def annotation_entry(annotation: dict, *, ann_id: int, image_id: int, category_id: int, width: int, height: int) -> dict | None:
    """One COCO annotation for a frozen annotation, or None for kinds COCO cannot hold."""
    kind, geometry = annotation["kind"], annotation["geometry"]
    attributes = annotation.get("attributes") or {}
    iscrowd = 1 if attributes.get("iscrowd") else 0
    if kind == "box":  # the bulk of most datasets: the shortest path
        w, h = geometry["w"], geometry["h"]
        return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": iscrowd,
                "bbox": [geometry["x"], geometry["y"], w, h], "area": w * h, "segmentation": []}
    entry = {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": iscrowd}
    box = common.box_of(annotation)
    if kind == "polygon":
        entry.update(bbox=list(box), area=_polygon_area(geometry["polygons"], height, width),
                     segmentation=[list(p) for p in geometry["polygons"]])
    elif kind == "mask":
        rle = geometry["rle"]
        area = float(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode("ascii")}))
        entry.update(bbox=list(box), area=area, segmentation={"size": list(rle["size"]), "counts": rle["counts"]})
    elif kind == "keypoints":
        flat = [v for point in geometry["points"] for v in (point[0], point[1], int(point[2]))]
        box = box or (0.0, 0.0, 0.0, 0.0)
        entry.update(bbox=list(box), area=box[2] * box[3], segmentation=[], keypoints=flat,
                     num_keypoints=sum(1 for point in geometry["points"] if point[2] > 0))
    else:
        return None
    return entry


def split_json(version: DatasetVersion, split: str, ticker: common.Ticker | None = None) -> Iterator[str]:
    """The instances JSON of one split, as pieces of text."""
    category_ids = {name: i + 1 for i, name in enumerate(version.label_names)}
    header = {
        "info": {"description": f"{version.project.name} v{version.number}", "version": str(version.number),
                 "contributor": "lensforge", "content_hash": version.content_hash},
        "licenses": [],
        "categories": categories(version),
    }
    yield _dump(header)[:-1] + ',"images":['
    first = True
    for row in common.rows(version, split, annotations=False):
        image = {"id": row.index + 1, "file_name": row.file_name, "width": row.width, "height": row.height}
        yield ("" if first else ",") + _dump(image)
        first = False
    yield '],"annotations":['
    first = True
    if version.materialized.get("coco") == FRAGMENT_REVISION:  # made at build: just concatenate
        fragments = common.paged(VersionImage.objects.filter(version=version, split=split), ("index", "coco"))
    else:
        fragments = (
            (row.index, row_fragment(row.annotations, index=row.index, offset=row.object_offset,
                                     category_ids=category_ids, width=row.width, height=row.height))
            for row in common.rows(version, split)
        )
    for _index, fragment in fragments:
        if fragment:
            yield fragment if first else "," + fragment
            first = False
        if ticker:
            ticker.tick()
    yield "]}"


def row_fragment(annotations: list[dict], *, index: int, offset: int, category_ids: dict[str, int],
                 width: int, height: int) -> str:
    """One image's annotation entries as JSON text (without brackets), ids from ``offset + 1``.

    Annotation ids are unique in the whole version (``offset`` counts the objects of the images
    before this one), so they are also unique within each split's file.
    """
    entries = []
    for annotation in annotations:
        entry = annotation_entry(annotation, ann_id=offset + len(entries) + 1, image_id=index + 1,
                                 category_id=category_ids[annotation["label"]], width=width, height=height)
        if entry is not None:
            entries.append(entry)
    return _dump(entries)[1:-1] if entries else ""


class Materializer:
    """Every image's annotation entries, made once while the version is frozen."""

    name = "coco"
    revision = FRAGMENT_REVISION

    def key(self, version: DatasetVersion, kinds: set[str]) -> None:
        return None

    def row_text(self, version: DatasetVersion, kinds: set[str]):
        category_ids = {name: i + 1 for i, name in enumerate(version.label_names)}

        def text(annotations: list[dict], *, index: int, offset: int, width: int, height: int) -> str:
            return row_fragment(annotations, index=index, offset=offset, category_ids=category_ids,
                                width=width, height=height)

        return text


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    ticker = common.Ticker(version, progress, passes=2 if with_images else 1)
    yield common.MANIFEST_NAME, common.manifest(version, "coco", with_images)
    for split in common.splits_of(version):
        yield f"annotations/instances_{split}.json", split_json(version, split, ticker)
        if with_images:
            for row in common.rows(version, split, annotations=False):
                yield f"images/{split}/{row.file_name}", common.image_path(row)
                ticker.tick(f"Writing images of {split}")
