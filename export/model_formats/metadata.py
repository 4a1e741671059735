"""Carry ``labels.txt`` and ``model_card.json`` inside the ``.tflite`` file itself.

A zip archive is appended after the flatbuffer, as Ultralytics does for its TFLite exports. Why
this works and is safe:

* A flatbuffer is read through offsets from its start; bytes after the model are never looked at,
  so LiteRT (and TFLite on Android/iOS) loads and runs the file unchanged.
* A zip archive is read from its *end* (the end-of-central-directory record), so any zip reader
  (``zipfile``, ``unzip``, Android's ``ZipInputStream`` on the tail) finds the two files while the
  model bytes sit in front of them.

So one download is enough for an app to know its class names and the model's preprocessing,
while a zip of model + labels + card (the API's download) stays possible too.

Pure standard library: no TensorFlow, safe to use anywhere.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LABELS_NAME = "labels.txt"
CARD_NAME = "model_card.json"
_TFLITE_IDENTIFIER = b"TFL3"


def embed_metadata(path: str | Path, *, labels: Sequence[str], card: Mapping[str, Any]) -> None:
    """Append (or replace) ``labels.txt`` (one class name per line, in output-index order) and
    ``model_card.json`` in a ``.tflite`` file.

    Embedding twice replaces the earlier archive rather than stacking archives. The file's size
    and sha256 change: refresh its record afterwards (``VariantRecord.refreshed()``).
    """
    path = Path(path)
    _check_tflite(path)
    bad = [label for label in labels if not label or "\n" in label or "\r" in label]
    if bad:
        raise ValueError(f"labels must be non-empty single lines, got {bad!r}")
    strip_embedded(path)
    labels_text = "".join(f"{label}\n" for label in labels)
    card_text = json.dumps(dict(card), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # Mode "a" on a file that is not a zip appends a new archive at its end (zipfile documents
    # this use for self-extracting executables).
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(LABELS_NAME, labels_text)
        archive.writestr(CARD_NAME, card_text)


def read_embedded(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """``(labels, card)`` embedded in the file; ``([], {})`` when it carries none."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        return [], {}
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        labels = archive.read(LABELS_NAME).decode("utf-8").splitlines() if LABELS_NAME in names else []
        card = json.loads(archive.read(CARD_NAME).decode("utf-8")) if CARD_NAME in names else {}
    return labels, card


def strip_embedded(path: str | Path) -> bool:
    """Remove an appended archive, leaving the bare flatbuffer. True if there was one."""
    path = Path(path)
    start = _archive_start(path)
    if start is None:
        return False
    with open(path, "r+b") as handle:
        handle.truncate(start)
    return True


def _archive_start(path: Path) -> int | None:
    """Where the appended archive begins: zipfile reports each member's local-header offset from
    the file's start (it accounts for the bytes in front), and the first member follows the model."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if infos:
            return min(info.header_offset for info in infos)
        # An empty archive is just its end record (22 bytes plus any comment).
        return path.stat().st_size - 22 - len(archive.comment)


def _check_tflite(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[4:8] != _TFLITE_IDENTIFIER:
        raise ValueError(
            f"{path.name} is not a TFLite flatbuffer (no TFL3 identifier); metadata is embedded in .tflite only"
        )
