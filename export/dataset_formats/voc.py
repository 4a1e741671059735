"""Pascal VOC: ``Annotations/<stem>.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Every object with a box or an outline (:func:`annotate.geometry.objects_of`: the box, mask or
polygon and keypoints of an instance group are one object) is an ``<object>`` whose ``<bndbox>``
is its box part, else its outline's box, in whole pixels (rounded, so within half a pixel; VOC
readers expect integers). ``difficult``, ``truncated`` and ``occluded`` are set when any part of
the object has the attribute of that name (``pose`` from the first part that has one). When the
version has polygons or masks, images that hold any get ``SegmentationObject/<stem>.png`` (pixel
value = the object's 1-based position among the XML's objects, VOC palette) and
``SegmentationClass/<stem>.png`` (value = class index in ``labelmap.txt``, background 0), and are
listed in ``ImageSets/Segmentation/<split>.txt``. Keypoints and tags have no VOC form and are not
written (an object that is only keypoints is left out).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image as PILImage
from pycocotools import mask as mask_utils

from annotate.geometry import ObjectParts, objects_of, rle_to_mask
from datasets.models import DatasetVersion

from . import common


def check(version: DatasetVersion) -> str | None:
    return None


def voc_palette() -> list[int]:
    """The standard VOC colour map (256 entries), as a flat list for ``Image.putpalette``."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


_PALETTE = voc_palette()


def labelmap(version: DatasetVersion) -> bytes:
    """``labelmap.txt`` as datumaro/CVAT write it. Each class's colour is its entry of the VOC
    colour map, the colour its pixels have in ``SegmentationClass`` (readers match the two)."""
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    for i, label in enumerate(version.labels, start=1):
        r, g, b = _PALETTE[3 * i:3 * i + 3]
        lines.append(f"{label['name']}:{r},{g},{b}::")
    return ("\n".join(lines) + "\n").encode()


def _sub(parent: ET.Element, tag: str, text) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


def pixel_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = box
    xmin, ymin = round(x), round(y)
    xmax, ymax = max(round(x + w), xmin + 1), max(round(y + h), ymin + 1)
    return xmin, ymin, min(xmax, width), min(ymax, height)


def object_mask(annotation: dict, width: int, height: int) -> np.ndarray | None:
    if annotation["kind"] == "mask":
        return rle_to_mask(annotation["geometry"])
    if annotation["kind"] == "polygon":
        rles = mask_utils.frPyObjects(annotation["geometry"]["polygons"], height, width)
        return mask_utils.decode(mask_utils.merge(rles))
    return None


def _png(array: np.ndarray) -> bytes:
    picture = PILImage.fromarray(array, mode="P")
    picture.putpalette(_PALETTE)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=False)
    return out.getvalue()


def voc_objects(annotations: list[dict]) -> list[ObjectParts]:
    """The image's objects that VOC can hold: those with a box or an outline, in order."""
    return [obj for obj in objects_of(annotations) if obj.box is not None or obj.outline is not None]


def image_xml(row, objects: list[ObjectParts], segmented: bool) -> bytes:
    root = ET.Element("annotation")
    _sub(root, "folder", "JPEGImages")
    _sub(root, "filename", row.file_name)
    source = ET.SubElement(root, "source")
    _sub(source, "database", "lensforge")
    size = ET.SubElement(root, "size")
    _sub(size, "width", row.width)
    _sub(size, "height", row.height)
    _sub(size, "depth", 3)
    _sub(root, "segmented", int(segmented))
    for obj in objects:
        attributes = [part.get("attributes") or {} for part in obj.parts]
        element = ET.SubElement(root, "object")
        _sub(element, "name", obj.label)
        _sub(element, "pose", next((a["pose"] for a in attributes if "pose" in a), "Unspecified"))
        for flag in ("truncated", "difficult", "occluded"):
            _sub(element, flag, int(any(a.get(flag, False) for a in attributes)))
        xmin, ymin, xmax, ymax = pixel_box(obj.bbox(), row.width, row.height)
        bndbox = ET.SubElement(element, "bndbox")
        for tag, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            _sub(bndbox, tag, value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    class_index = {name: i + 1 for i, name in enumerate(version.label_names)}
    has_segmentation = bool(common.kinds_of(version) & {"polygon", "mask"})
    ticker = common.Ticker(version, progress)
    yield common.MANIFEST_NAME, common.manifest(version, "voc", with_images)
    yield "labelmap.txt", labelmap(version)
    for split in common.splits_of(version):
        main_list: list[str] = []
        segmentation_list: list[str] = []
        for row in common.rows(version, split):
            stem = common.stem(row)
            objects = voc_objects(row.annotations)
            segmented = any(obj.outline is not None for obj in objects)
            yield f"Annotations/{stem}.xml", image_xml(row, objects, segmented)
            if segmented:
                instances = np.zeros((row.height, row.width), dtype=np.uint8)
                classes = np.zeros((row.height, row.width), dtype=np.uint8)
                for position, obj in enumerate(objects, start=1):
                    if obj.outline is None:
                        continue
                    mask = object_mask(obj.outline, row.width, row.height)
                    instances[mask > 0] = min(position, 254)
                    classes[mask > 0] = class_index[obj.label]
                yield f"SegmentationObject/{stem}.png", _png(instances)
                yield f"SegmentationClass/{stem}.png", _png(classes)
                segmentation_list.append(stem)
            if with_images:
                yield f"JPEGImages/{row.file_name}", common.image_path(row)
            main_list.append(stem)
            ticker.tick(f"Writing {split}")
        yield f"ImageSets/Main/{split}.txt", ("\n".join(main_list) + "\n").encode()
        if has_segmentation and segmentation_list:
            yield f"ImageSets/Segmentation/{split}.txt", ("\n".join(segmentation_list) + "\n").encode()
