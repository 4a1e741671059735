"""Image classification folders: ``<split>/<class>/<image>``, plus ``labels.csv`` listing them.

An image's class is its tag (an image with several tags goes in each of their folders); an
image without tags whose annotations all have one class goes in that class's folder. Images
with no class, or objects of several classes and no tag, have no folder: they are listed in
``unclassified.csv`` so nothing disappears silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from datasets.models import DatasetVersion

from . import common


def check(version: DatasetVersion) -> str | None:
    return None


def classes_of(annotations: list[dict]) -> list[str]:
    tags = sorted({a["label"] for a in annotations if a["kind"] == "tag"})
    if tags:
        return tags
    labels = {a["label"] for a in annotations}
    return sorted(labels) if len(labels) == 1 else []


def _folder_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in " -_." else "_" for c in name).strip(" .")
    return cleaned or "_"


def _csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def members(version: DatasetVersion, *, with_images: bool, progress: common.Progress = None) -> Iterator[tuple]:
    ticker = common.Ticker(version, progress)
    listed: list[list] = [["split", "class", "path"]]
    unclassified: list[list] = [["split", "image", "reason"]]
    yield common.MANIFEST_NAME, common.manifest(version, "imagefolder", with_images)
    for split in common.splits_of(version):
        for row in common.rows(version, split):
            classes = classes_of(row.annotations)
            if not classes:
                reason = "no annotations" if not row.annotations else "objects of several classes and no tag"
                unclassified.append([split, row.file_name, reason])
            for name in classes:
                path = f"{split}/{_folder_name(name)}/{row.file_name}"
                listed.append([split, name, path])
                if with_images:
                    yield path, common.image_path(row)
            ticker.tick(f"Writing {split}")
    yield "labels.csv", _csv(listed)
    if len(unclassified) > 1:
        yield "unclassified.csv", _csv(unclassified)
