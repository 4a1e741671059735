"""COCO reader: instances (boxes, polygons, RLE masks) and person-style keypoints.

One JSON file per split, its split taken from its name (``instances_train2017.json`` → train,
``person_keypoints_val2017.json`` → val) or its folder (``valid/_annotations.coco.json``). Each
COCO object becomes the geometries it holds, one annotation each, kept together as one instance
group when there are several:

- a box from its ``bbox`` when that is 4 numbers with a positive width and height, unless the
  entry says ``"lensforge_bbox_derived": true`` (Lensforge's writer marks a box it derived from
  the outline or the keypoints, which the object did not have);
- its outline from a non-empty ``segmentation``: RLE (compressed or not) becomes a mask, a list
  of polygons one polygon annotation (several parts stay one object);
- its keypoints when its category has keypoint names and some point is labelled (or the object
  has nothing else).

The object's attributes (``iscrowd``, and an ``attributes`` mapping as CVAT writes) go to its
outline, else its box, else its keypoints. An object with none of these is a problem (a ``bbox``
that is not a positive box is then taken as the box, for validation to say what is wrong with
it). Category ids need not be contiguous; a skeleton is 1-based in COCO and stored 0-based.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from annotate.split_names import UNASSIGNED

from .common import (
    DatasetFiles,
    ImageSpec,
    LabelSpec,
    ObjectSpec,
    ParsedDataset,
    ProblemReport,
    parent,
    resolve_image,
    split_from_name,
    split_token,
)

FORMAT = "coco"


def sniff(files: DatasetFiles) -> str | None:
    """Why this cannot be a COCO dataset, or None if it may be one."""
    if not files.with_suffix(".json"):
        return "There is no .json annotation file; a COCO dataset has one per split (e.g. instances_train2017.json)."
    return None


def load_json(files: DatasetFiles, name: str, report: ProblemReport):
    data = files.read(name)
    if not data.strip():
        report.add(name, "The file is empty.")
        return None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        report.add(name, "The file is not UTF-8 text.")
    except json.JSONDecodeError as exc:
        report.add(name, f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.")
    except RecursionError:
        report.add(name, "The JSON is nested too deeply to be an annotation file.")
    return None


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _is_id(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value != "")


def _split_of(name: str) -> str:
    path = PurePosixPath(name)
    return split_from_name(path.stem) or split_from_name(path.parent.name) or UNASSIGNED


def _skeleton(edges, count: int, file: str, where: str, report: ProblemReport) -> list[list[int]]:
    if not edges:
        return []
    if not isinstance(edges, list) or not all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in e)
        for e in edges
    ):
        report.add(file, "The skeleton must be a list of [i, j] pairs of keypoint numbers.", where)
        return []
    # COCO numbers keypoints from 1; a skeleton that uses 0 was written 0-based.
    offset = 0 if any(0 in e for e in edges) else 1
    out = []
    for a, b in edges:
        a, b = a - offset, b - offset
        if not (0 <= a < count and 0 <= b < count) or a == b:
            report.add(file, f"The skeleton edge [{a + offset}, {b + offset}] does not join two of its {count} keypoints.", where)
            continue
        out.append([a, b])
    return out


def _categories(doc: dict, file: str, dataset: ParsedDataset, report: ProblemReport) -> dict:
    categories = doc.get("categories", [])
    if not isinstance(categories, list):
        report.add(file, "'categories' must be a list.")
        return {}
    by_id: dict = {}
    names: set[str] = set()
    for index, category in enumerate(categories):
        where = f"category #{index}"
        if not isinstance(category, dict) or not _is_id(category.get("id")):
            report.add(file, "A category needs an 'id'.", where)
            continue
        where = f"category id {category['id']}"
        name = category.get("name")
        if not isinstance(name, str) or not name.strip():
            report.add(file, "A category needs a non-empty 'name'.", where)
            continue
        name = name.strip()[:100]
        if category["id"] in by_id:
            report.add(file, f"The category id {category['id']} is used twice.", where)
            continue
        if name in names:
            report.add(file, f"Two categories are called {name!r}.", where)
            continue
        keypoints = category.get("keypoints") or []
        if not isinstance(keypoints, list) or not all(isinstance(k, str) and k for k in keypoints):
            report.add(file, "'keypoints' must be a list of keypoint names.", where)
            continue
        if len(set(keypoints)) != len(keypoints):
            report.add(file, "The keypoint names repeat.", where)
            continue
        spec = LabelSpec(name, list(keypoints), _skeleton(category.get("skeleton"), len(keypoints), file, where, report))
        known = dataset.labels.get(name)
        if known is not None and known.keypoint_names != spec.keypoint_names:
            report.add(file, f"The category {name!r} has other keypoints than in another annotation file.", where)
            continue
        dataset.label(spec)
        by_id[category["id"]] = spec
        names.add(name)
    return by_id


def _parts(ann: dict, spec: LabelSpec, file: str, where: str, report: ProblemReport) -> list[ObjectSpec] | None:
    """The geometries of one COCO object (box, outline, keypoints; see the module's docstring), or
    None (reported) when it has none that can be read."""
    attributes = dict(ann["attributes"]) if isinstance(ann.get("attributes"), dict) else {}
    if ann.get("iscrowd"):
        attributes["iscrowd"] = 1
    bbox = ann.get("bbox")
    is_box = isinstance(bbox, list) and len(bbox) == 4
    box = outline = points = None
    if is_box and all(_number(v) for v in bbox[:2]) and all(_positive(v) for v in bbox[2:]) \
            and ann.get("lensforge_bbox_derived") is not True:
        box = ObjectSpec(spec.name, "box", dict(zip("xywh", bbox)), where)
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, dict):
        outline = ObjectSpec(spec.name, "mask", {"rle": segmentation}, where)
    elif isinstance(segmentation, list) and segmentation:
        polygons = segmentation if isinstance(segmentation[0], list) else [segmentation]
        outline = ObjectSpec(spec.name, "polygon", {"polygons": polygons}, where)
    keypoints = ann.get("keypoints")
    if spec.keypoint_names and keypoints is not None:
        count = len(spec.keypoint_names)
        if not isinstance(keypoints, list) or len(keypoints) != 3 * count:
            size = len(keypoints) if isinstance(keypoints, list) else "no list"
            report.add(file, f"'keypoints' must hold 3 x {count} numbers for {spec.name!r}; got {size}.", where)
            return None
        values = [
            [keypoints[i], keypoints[i + 1], int(keypoints[i + 2]) if _integral(keypoints[i + 2]) else keypoints[i + 2]]
            for i in range(0, len(keypoints), 3)
        ]
        # With no labelled point, an object with an outline or a box is that; otherwise it stays
        # what it is, keypoints none of which is labelled.
        if any(p[2] != 0 for p in values) or (box is None and outline is None):
            points = ObjectSpec(spec.name, "keypoints", {"points": values}, where)
    parts = [part for part in (box, outline, points) if part is not None]
    if not parts and is_box:  # not a positive box: validation says what is wrong with it
        parts = [ObjectSpec(spec.name, "box", dict(zip("xywh", bbox)), where)]
    if not parts:
        report.add(file, "The annotation has no usable bbox, segmentation or keypoints.", where)
        return None
    (outline or parts[0]).attributes = attributes  # the outline's, else the box's, else the points'
    return parts


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _integral(value) -> bool:
    return isinstance(value, float) and value.is_integer()


def read(files: DatasetFiles, report: ProblemReport) -> ParsedDataset:
    """Parse every COCO annotation file of the dataset; problems go to ``report``."""
    dataset = ParsedDataset(FORMAT)
    claimed: dict[str, str] = {}  # image path -> annotation file that lists it
    found = False
    for file in files.with_suffix(".json"):
        doc = load_json(files, file, report)
        if doc is None:
            continue
        if not isinstance(doc, dict) or "images" not in doc:
            continue  # some other JSON (metadata); not an annotation file
        found = True
        if not isinstance(doc.get("images"), list) or not isinstance(doc.get("annotations", []), list):
            report.add(file, "'images' and 'annotations' must be lists.")
            continue
        categories = _categories(doc, file, dataset, report)
        split = _split_of(file)
        folder = parent(file)
        # Where COCO sets keep images: beside the JSON, in images/ next to or above it, and in a
        # folder named like the split (images/train2017 for instances_train2017.json).
        token = split_token(PurePosixPath(file).stem)
        above = parent(folder)
        folders = [folder, _join(above, "images"), _join(folder, "images")]
        if token:
            folders += [_join(above, "images", token), _join(above, token), _join(folder, token)]
        images: dict = {}
        for index, entry in enumerate(doc["images"]):
            if not isinstance(entry, dict) or not _is_id(entry.get("id")):
                report.add(file, "An image entry needs an 'id'.", f"image #{index}")
                continue
            where = f"image id {entry['id']}"
            if entry["id"] in images:
                report.add(file, f"The image id {entry['id']} is used twice.", where)
                continue
            path, why = resolve_image(files, entry.get("file_name") or "", *folders)
            if path is None:
                report.add(file, why[0].upper() + why[1:] + ".", where)
                images[entry["id"]] = None
                continue
            if path in claimed:
                report.add(file, f"The image file {path} is listed twice (also in {claimed[path]}).", where)
                images[entry["id"]] = None
                continue
            claimed[path] = file
            width, height = entry.get("width"), entry.get("height")
            size = (width, height) if all(isinstance(v, int) and v > 0 for v in (width, height)) else None
            images[entry["id"]] = spec = ImageSpec(file=path, split=split, size=size, where=file)
            dataset.images.append(spec)
        seen_ids: set = set()
        for index, ann in enumerate(doc.get("annotations", [])):
            if not isinstance(ann, dict):
                report.add(file, "An annotation must be an object.", f"annotation #{index}")
                continue
            where = f"annotation id {ann['id']}" if _is_id(ann.get("id")) else f"annotation #{index}"
            if _is_id(ann.get("id")):
                if ann["id"] in seen_ids:
                    report.add(file, f"The annotation id {ann['id']} is used twice.", where)
                    continue
                seen_ids.add(ann["id"])
            if ann.get("image_id") not in images:
                report.add(file, f"It refers to image id {ann.get('image_id')!r}, which is not in 'images'.", where)
                continue
            spec = categories.get(ann.get("category_id")) if _is_id(ann.get("category_id")) else None
            if spec is None:
                report.add(file, f"Its category_id {ann.get('category_id')!r} is not among the categories.", where)
                continue
            image = images[ann["image_id"]]
            parts = _parts(ann, spec, file, where, report)
            if parts is not None and image is not None:
                image.add_object(parts)
    if not found:
        report.add("", "No COCO annotation file: none of the .json files has 'images', 'annotations' and 'categories'.")
    return dataset
