"""Dataset format writers: one module per format, each with ``check(version)`` and ``members(version, ...)``.

Writers that precompute per-image text while a version is built (COCO entries, YOLO lines) also
offer a ``Materializer`` (see :mod:`datasets.pipeline`), registered by the export app.

``check`` returns a sentence when the version cannot be written in the format (or None);
``members`` yields ``(name, source)`` pairs for :class:`export.streaming.ZipStream`, lazily, so an
export of any size streams. Bump :data:`WRITER_REVISION` whenever any writer's output changes:
it is part of the ETag and of the cache file names, so stale cached exports are not served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from datasets.models import DatasetVersion

from . import coco, csv, imagefolder, tfrecord, voc, yolo
from .common import Progress


class DatasetWriter(Protocol):
    """What the export service needs of a format (each format module is one)."""

    def check(self, version: DatasetVersion) -> str | None: ...

    def members(self, version: DatasetVersion, *, with_images: bool, progress: Progress = None) -> Iterator[tuple[str, Any]]: ...


WRITER_REVISION = 3  # 3: one object per instance group in every writer

WRITERS: dict[str, DatasetWriter] = {
    "coco": coco,
    "yolo": yolo,
    "voc": voc,
    "tfrecord": tfrecord,
    "imagefolder": imagefolder,
    "csv": csv,
}

MATERIALIZERS = [coco.Materializer(), yolo.Materializer()]
