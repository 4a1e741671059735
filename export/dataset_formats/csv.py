"""One CSV row per object: ``annotations.csv``, images under ``images/<split>/`` when included.

Columns: split, image, width, height, label, kind, xmin, ymin, xmax, ymax (pixels; empty for
tags and for keypoints without visible points), geometry and attributes (JSON, exactly as
frozen), so a row loses nothing.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
from collections.abc import Iterator

from datasets.models import DatasetVersion

from . import common

COLUMNS = ["split", "image", "width", "height", "label", "kind", "xmin", "ymin", "xmax", "ymax",
           "geometry", "attributes"]


def check(version: DatasetVersion) -> str | None:
    return None


def _rows_text(version: DatasetVersion, ticker: common.Ticker) -> Iterator[str]:
    out = io.StringIO()
    writer = csv_module.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for split in common.splits_of(version):
        for row in common.rows(version, split):
            for annotation in row.annotations:
                box = common.box_of(annotation)
                corners = ["", "", "", ""] if box is None else [box[0], box[1], box[0] + box[2], box[1] + box[3]]
                writer.writerow(
                    [split, row.file_name, row.width, row.height, annotation["label"], annotation["kind"], *corners,
                     json.dumps(annotation["geometry"], separators=(",", ":")),
                     json.dumps(annotation.get("attributes") or {}, separators=(",", ":"), sort_keys=True)]
                )
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
