"""COCO: ``annotations/instances_<split>.json`` per split, images under ``images/<split>/``.

- categories: ids 1..n in the version's label order (contiguous), names kept; keypoint classes
  carry ``keypoints`` (names) and ``skeleton`` (COCO's skeleton is 1-based).
- one annotation entry per **object** (:func:`annotate.geometry.objects_of`): the parts of an
  instance group (its box, its mask or polygon, its keypoints) are one entry, each ungrouped
  annotation an entry of its own. ``bbox`` is the object's box part, else the tight box of its
  outline, else of its visible keypoints (or an older import's ``bbox`` attribute);
  ``segmentation`` is its outline (polygons stay polygons, masks are compressed RLE) or ``[]``;
  ``area`` is the outline's area, else the box's; keypoints are ``[x, y, v] * K`` with
  ``num_keypoints``; ``iscrowd`` comes from the outline's ``iscrowd`` attribute (else any part's),
  0 otherwise.
- an object without a box part has its ``bbox`` derived; its entry says so with the extra key
  ``"lensforge_bbox_derived": true``, so that importing the file again (see
  :mod:`export.dataset_importers.coco`) does not invent a box. Other COCO readers (pycocotools,
  datumaro, ...) ignore unknown keys. (The ``bbox`` attribute an older import left on keypoints
  is a box the dataset gave, so it is not marked: importing the file again makes it a box part.)
- image ids are the version's index + 1 and annotation ids are unique in the whole version
  (``object_offset`` + 1.., one per object), so they are the same whichever split file you read.
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

from annotate.geometry import ObjectParts, objects_of
from datasets.models import DatasetVersion, VersionImage

from . import common

# Bump when the form of an annotation entry changes: versions built before keep working (their
# stored entries are not used, entries are made on the fly) and exports change their ETag.
FRAGMENT_REVISION = 2  # 2: one entry per object (instance groups)
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


def _legacy_bbox(keypoints: dict) -> bool:
    """Whether a keypoints set carries an explicit ``bbox`` attribute (older imports): its box then
    is a box the dataset gave, not one derived from the points."""
    bbox = (keypoints.get("attributes") or {}).get("bbox")
    return isinstance(bbox, list) and len(bbox) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox
    )


def _iscrowd(obj: ObjectParts) -> int:
    """The outline's ``iscrowd`` attribute, else any part's."""
    if obj.outline is not None and "iscrowd" in (obj.outline.get("attributes") or {}):
        return 1 if obj.outline["attributes"]["iscrowd"] else 0
    return 1 if any((part.get("attributes") or {}).get("iscrowd") for part in obj.parts) else 0


def object_entry(obj: ObjectParts, *, ann_id: int, image_id: int, category_id: int, width: int, height: int) -> dict:
    """The COCO annotation entry of one object (see the module's docstring)."""
    box, outline, keypoints = obj.box, obj.outline, obj.keypoints
    if outline is None and keypoints is None:  # a plain box, the bulk of most datasets: the shortest path
        geometry = box["geometry"]
        w, h = geometry["w"], geometry["h"]
        iscrowd = 1 if (box.get("attributes") or {}).get("iscrowd") else 0
        return {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": iscrowd,
                "bbox": [geometry["x"], geometry["y"], w, h], "area": w * h, "segmentation": []}
    bbox = obj.bbox() or (0.0, 0.0, 0.0, 0.0)
    entry = {"id": ann_id, "image_id": image_id, "category_id": category_id, "iscrowd": _iscrowd(obj),
             "bbox": list(bbox)}
    if outline is None:
        entry.update(area=bbox[2] * bbox[3], segmentation=[])
    elif outline["kind"] == "polygon":
        polygons = outline["geometry"]["polygons"]
        entry.update(area=_polygon_area(polygons, height, width), segmentation=[list(p) for p in polygons])
    else:
        rle = outline["geometry"]["rle"]
        area = float(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode("ascii")}))
        entry.update(area=area, segmentation={"size": list(rle["size"]), "counts": rle["counts"]})
    if keypoints is not None:
        points = keypoints["geometry"]["points"]
        entry.update(keypoints=[v for point in points for v in (point[0], point[1], int(point[2]))],
                     num_keypoints=sum(1 for point in points if point[2] > 0))
    if box is None and not (outline is None and _legacy_bbox(keypoints)):
        entry["lensforge_bbox_derived"] = True
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

    One entry per object (an instance group is one object). Annotation ids are unique in the
    whole version (``offset`` counts the objects of the images before this one), so they are
    also unique within each split's file.
    """
    entries = [
        object_entry(obj, ann_id=offset + number, image_id=index + 1, category_id=category_ids[obj.label],
                     width=width, height=height)
        for number, obj in enumerate(objects_of(annotations), start=1)
    ]
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
