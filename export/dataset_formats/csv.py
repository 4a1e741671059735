"""One CSV row per object: ``annotations.csv``, images under ``images/<split>/`` when included.

Columns: split, image, width, height, label, kind, xmin, ymin, xmax, ymax (pixels; empty for
tags and for keypoints without visible points), geometry and attributes (JSON, exactly as
frozen), so a row loses nothing.

An object of several parts (an instance group: :func:`annotate.geometry.objects_of`) is one row:
its ``kind`` names its parts joined by ``+`` in the order box, outline, keypoints (e.g.
``box+mask+keypoints``), its box is its box part's (else its outline's, else its visible
keypoints'), and ``geometry`` and ``attributes`` are JSON objects keyed by each part's kind
(``{"box": {...}, "mask": {...}}``). Tags are one row each; rows follow the image's annotations.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
from collections.abc import Iterator

from annotate.geometry import objects_of
from datasets.models import DatasetVersion

from . import common

COLUMNS = ["split", "image", "width", "height", "label", "kind", "xmin", "ymin", "xmax", "ymax",
           "geometry", "attributes"]


def check(version: DatasetVersion) -> str | None:
    return None


def _dump(value, sort_keys: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def object_rows(annotations: list[dict]) -> list[tuple[str, str, tuple | None, str, str]]:
    """(label, kind, box, geometry JSON, attributes JSON) of each object and tag, in the order of
    the annotations (an object where its first part is)."""
    object_of = {id(part): obj for obj in objects_of(annotations) for part in obj.parts}
    written: set[int] = set()
    out = []
    for annotation in annotations:
        if annotation["kind"] == "tag":
            out.append((annotation["label"], "tag", None, _dump(annotation["geometry"]),
                        _dump(annotation.get("attributes") or {}, sort_keys=True)))
            continue
        obj = object_of.get(id(annotation))
        if obj is None or id(obj) in written:  # a later part of an object already written
            continue
        written.add(id(obj))
        parts = obj.parts
        if len(parts) == 1:
            geometry, attributes = parts[0]["geometry"], parts[0].get("attributes") or {}
        else:
            geometry = {part["kind"]: part["geometry"] for part in parts}
            attributes = {part["kind"]: part.get("attributes") or {} for part in parts}
        out.append((obj.label, "+".join(part["kind"] for part in parts), obj.bbox(), _dump(geometry),
                    _dump(attributes, sort_keys=True)))
    return out


def _rows_text(version: DatasetVersion, ticker: common.Ticker) -> Iterator[str]:
    out = io.StringIO()
    writer = csv_module.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for split in common.splits_of(version):
        for row in common.rows(version, split):
            for label, kind, box, geometry, attributes in object_rows(row.annotations):
                corners = ["", "", "", ""] if box is None else [box[0], box[1], box[0] + box[2], box[1] + box[3]]
                writer.writerow([split, row.file_name, row.width, row.height, label, kind, *corners, geometry,
                                 attributes])
            ticker.tick()
            if out.tell() > 256 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    ticker = common.Ticker(version, progress, passes=2 if with_images else 1)
    yield common.MANIFEST_NAME, common.manifest(version, "csv", with_images)
    yield "annotations.csv", _rows_text(version, ticker)
    if with_images:
        for split in common.splits_of(version):
            for row in common.rows(version, split, annotations=False):
                yield f"images/{split}/{row.file_name}", common.image_path(row)
                ticker.tick()
