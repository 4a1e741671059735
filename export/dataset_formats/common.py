"""What every format writer needs: the version's rows in order, its splits and labels, image files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import NamedTuple

from django.conf import settings

from annotate.split_names import SPLITS
from datasets.models import DatasetVersion, VersionImage

from ..streaming import LocalFile

ROW_CHUNK = 1000
Progress = Callable[[float, str | None], None] | None


class Row(NamedTuple):
    """What writers read of a frozen image (plain tuples: exports touch every row, often twice)."""

    index: int
    file: str
    sha256: str
    mime_type: str
    file_name: str
    width: int
    height: int
    split: str
    object_offset: int
    annotations: list


ROW_FIELDS = Row._fields


def splits_of(version: DatasetVersion) -> list[str]:
    """The splits that hold images, in train / val / test order."""
    images = (version.counts or {}).get("images", {})
    return [split for split in SPLITS if images.get(split)]


def kinds_of(version: DatasetVersion) -> set[str]:
    return set((version.counts or {}).get("kinds", {}))


def paged(queryset, fields: tuple[str, ...]) -> Iterator[tuple]:
    """``values_list(*fields)`` of version images in index order (``fields[0]`` must be "index"),
    read a page at a time.

    Pages (by index, each query read to its end) rather than one long cursor: a job writes its
    progress while it reads, and on SQLite a write from a connection whose read is still open
    fails when another connection (the heartbeat) wrote meanwhile.
    """
    last = -1
    while True:
        page = list(queryset.filter(index__gt=last).order_by("index").values_list(*fields)[:ROW_CHUNK])
        if not page:
            return
        yield from page
        last = page[-1][0]


def rows(version: DatasetVersion, split: str | None = None, *, annotations: bool = True) -> Iterator[Row]:
    """The version's images in index order, paged from the database (see :func:`paged`).

    With ``annotations=False`` the (large) annotation JSON is not read and ``row.annotations`` is
    an empty list: for passes that only list or copy images.
    """
    queryset = VersionImage.objects.filter(version=version)
    if split is not None:
        queryset = queryset.filter(split=split)
    if annotations:
        return (Row(*value) for value in paged(queryset, ROW_FIELDS))
    return (Row(*value, []) for value in paged(queryset, ROW_FIELDS[:-1]))


def image_path(row: Row) -> LocalFile:
    return media_file(row.file)


def media_file(relative: str) -> LocalFile:
    return LocalFile(os.path.join(settings.MEDIA_ROOT, relative))


def stem(row: VersionImage) -> str:
    return PurePosixPath(row.file_name).stem


def label_indexes(version: DatasetVersion) -> dict[str, int]:
    """Label name -> 0-based index, in the version's label order."""
    return {name: i for i, name in enumerate(version.label_names)}


def manifest(version: DatasetVersion, fmt: str, with_images: bool) -> bytes:
    """A small description of the version at the archive's root, so an export explains itself."""
    return json.dumps(
        {
            "project": version.project.name, "version": version.number, "name": version.name,
            "content_hash": version.content_hash, "format": fmt, "images_included": with_images,
            "labels": version.labels, "counts": version.counts, "params": version.params,
            "built_at": version.built_at.isoformat() if version.built_at else None,
        },
        indent=2, sort_keys=True,
    ).encode()


MANIFEST_NAME = "lensforge_version.json"


class Ticker:
    """Reports progress as a fraction of the version's images handled.

    The job throttles plain progress reports itself; a message (which is always written) is only
    passed on when the whole percentage changes.
    """

    def __init__(self, version: DatasetVersion, progress: Progress, passes: int = 1):
        self.total = max(version.image_count * passes, 1)
        self.done = 0
        self.percent = -1
        self.progress = progress

    def tick(self, message: str | None = None) -> None:
        self.done += 1
        if self.progress is None:
            return
        fraction = min(self.done / self.total, 1.0) * 0.99
        percent = int(fraction * 100)
        if percent != self.percent:
            self.percent = percent
            self.progress(fraction, f"{message or 'Writing'} ({percent}%)")
        else:
            self.progress(fraction, None)
