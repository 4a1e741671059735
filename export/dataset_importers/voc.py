"""Pascal VOC reader: one XML file per image, boxes, splits from ``ImageSets/Main``, object masks.

Boxes are read as written (``x = xmin``, ``w = xmax - xmin``), the convention of LabelImg, CVAT
and datumaro. The image is looked up by the XML's ``<filename>`` next to it, in ``../JPEGImages``
or ``../images``, or by its unique name anywhere in the dataset; failing that (a ``<filename>``
without extension or with another one), by the unique image of the same name without extension
(the XML's own name when ``<filename>`` is empty). ``ImageSets/Main/<split>.txt``
(train, val, test; per-class lists like ``cat_train.txt`` are ignored) give the splits. When
``SegmentationObject/<id>.png`` exists, object *i* (1-based, in XML order) also has the mask of the
pixels whose palette index is *i*: its box and its mask are one instance group. ``difficult``,
``truncated`` and ``occluded`` flags are kept as attributes (of the box).
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from xml.etree import ElementTree

import numpy as np
from PIL import Image as PILImage

from annotate import split_names
from annotate.geometry import mask_to_rle

from .common import (
    DatasetFiles,
    ImageSpec,
    LabelSpec,
    ObjectSpec,
    ParsedDataset,
    ProblemReport,
    parent,
    resolve_image,
)

FORMAT = "voc"
SPLITS = {name: name for name in split_names.SPLITS}  # ImageSets/Main/<split>.txt
FLAGS = ("difficult", "truncated", "occluded")


def sniff(files: DatasetFiles) -> str | None:
    if not files.with_suffix(".xml"):
        return "There is no .xml annotation file; a Pascal VOC dataset has one per image (Annotations/<image>.xml)."
    return None


def _parse(files: DatasetFiles, name: str, report: ProblemReport) -> ElementTree.Element | None:
    data = files.read(name)
    if not data.strip():
        report.add(name, "The file is empty.")
        return None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        report.add(name, "The XML declares a DOCTYPE or entities, which are not accepted.")
        return None
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        report.add(name, f"The file is not well-formed XML ({exc}).")
        return None


def _text(element: ElementTree.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _number(element: ElementTree.Element, path: str) -> float | None:
    try:
        return float(_text(element, path))
    except ValueError:
        return None


def _splits(files: DatasetFiles) -> dict[str, str]:
    """Image id → split from ImageSets/Main/{train,val,test}.txt."""
    out: dict[str, str] = {}
    for name in files.with_suffix(".txt"):
        path = PurePosixPath(name)
        if path.parent.name != "Main" or path.stem not in SPLITS:
            continue
        for line in files.read(name).decode("utf-8", errors="replace").splitlines():
            if line.split():
                out.setdefault(line.split()[0], SPLITS[path.stem])
    return out


def _object_masks(files: DatasetFiles, xml: str, stem: str, report: ProblemReport) -> np.ndarray | None:
    folder = parent(parent(xml))
    candidate = f"{folder}/SegmentationObject/{stem}.png".lstrip("/")
    if candidate not in files:
        return None
    try:
        image = PILImage.open(io.BytesIO(files.read(candidate)))
        if image.mode != "P":
            report.add(candidate, "An object mask must be a palette PNG whose index is the object's number.")
            return None
        return np.asarray(image)
    except (OSError, ValueError) as exc:
        report.add(candidate, f"The mask image cannot be read ({exc}).")
        return None


def read(files: DatasetFiles, report: ProblemReport) -> ParsedDataset:
    dataset = ParsedDataset(FORMAT)
    splits = _splits(files)
    stems: dict[str, list[str]] = {}
    for image in files.images():
        stems.setdefault(PurePosixPath(image).stem, []).append(image)
    claimed: dict[str, str] = {}
    found = False
    for xml in files.with_suffix(".xml"):
        root = _parse(files, xml, report)
        if root is None:
            continue
        if root.tag != "annotation":
            continue  # some other XML
        found = True
        filename = _text(root, "filename")
        folder = parent(xml)
        path, why = resolve_image(
            files, filename, folder, f"{parent(folder)}/JPEGImages".lstrip("/"), f"{parent(folder)}/images".lstrip("/")
        )
        if path is None:  # VOC's convention: Annotations/<id>.xml describes JPEGImages/<id>.<ext>
            same_stem = stems.get(PurePosixPath(filename or xml).stem, [])
            if len(same_stem) != 1:
                report.add(xml, why[0].upper() + why[1:] + ".")
                continue
            path = same_stem[0]
        if path in claimed:
            report.add(xml, f"The image {path} is also described by {claimed[path]}.")
            continue
        claimed[path] = xml
        stem = PurePosixPath(xml).stem
        width, height = _number(root, "size/width"), _number(root, "size/height")
        size = (int(width), int(height)) if width and height and width > 0 and height > 0 else None
        split = splits.get(stem) or splits.get(PurePosixPath(path).stem) or split_names.UNASSIGNED
        spec = ImageSpec(file=path, split=split, size=size, where=xml)
        masks = _object_masks(files, xml, stem, report)
        for index, obj in enumerate(root.findall("object"), start=1):
            where = f"object {index}"
            name = _text(obj, "name")[:100]
            if not name:
                report.add(xml, "The object has no <name>.", where)
                continue
            dataset.label(LabelSpec(name))
            attributes = {flag: 1 for flag in FLAGS if _text(obj, flag) == "1"}
            mask = masks == index if masks is not None else None
            mask = mask if mask is not None and mask.any() else None
            box = [_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
            if any(v is None for v in box):
                if mask is not None:  # the mask is the object (its box is implied)
                    spec.objects.append(ObjectSpec(name, "mask", mask_to_rle(mask), where, attributes))
                    continue
                report.add(xml, "The object needs a <bndbox> with numeric xmin, ymin, xmax and ymax.", where)
                continue
            xmin, ymin, xmax, ymax = box
            parts = [ObjectSpec(name, "box", {"x": xmin, "y": ymin, "w": xmax - xmin, "h": ymax - ymin}, where, attributes)]
            if mask is not None:
                parts.append(ObjectSpec(name, "mask", mask_to_rle(mask), where))
            spec.add_object(parts)
        dataset.images.append(spec)
    if not found:
        report.add("", "No Pascal VOC annotation: none of the .xml files is an <annotation>.")
    return dataset
