"""What one exported model file is: the record `convert` returns for every variant.

Plain data and hashing only (no TensorFlow), so the web process and the training app's models can
use these names without paying for a TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["keras", "saved_model", "tflite", "onnx", "coreml"]
VariantName = Literal["float32", "float16", "dynamic_int8", "int8"]
Status = Literal["ok", "failed"]

FORMATS: tuple[Format, ...] = ("keras", "saved_model", "tflite", "onnx", "coreml")
TFLITE_VARIANTS: tuple[VariantName, ...] = ("float32", "float16", "dynamic_int8", "int8")
OK: Status = "ok"
FAILED: Status = "failed"

_CHUNK = 1 << 20


@dataclass(frozen=True)
class VariantRecord:
    """One exported model variant.

    ``path`` is the file (or, for ``saved_model`` and ``coreml``, the directory); it is ``None`` when the
    conversion failed, and then ``error`` says why in one readable line. ``size_bytes`` and
    ``sha256`` describe the file as written; for a directory they cover every file in it (see
    :func:`path_digest`). ``notes`` carries non-fatal remarks (e.g. outputs left unrenamed).
    """

    format: Format
    variant: VariantName
    path: Path | None
    size_bytes: int
    sha256: str
    status: Status
    error: str = ""
    notes: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def key(self) -> str:
        """A stable short name, e.g. ``tflite-int8``: what a run page or a file name can show."""
        return f"{self.format}-{self.variant}"

    def refreshed(self) -> VariantRecord:
        """The same record with size and hash recomputed, e.g. after metadata was embedded."""
        if self.path is None:
            return self
        size, digest = path_digest(self.path)
        return dataclasses.replace(self, size_bytes=size, sha256=digest)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the path as a string), for a Job result or a model row."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path) if self.path is not None else None
        return data


def ok_record(format: Format, variant: VariantName, path: Path, notes: str = "") -> VariantRecord:
    size, digest = path_digest(path)
    return VariantRecord(format, variant, path, size, digest, OK, "", notes)


def failed_record(format: Format, variant: VariantName, error: str) -> VariantRecord:
    return VariantRecord(format, variant, None, 0, "", FAILED, error)


def path_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, or of a directory taken as a whole.

    A directory (a SavedModel, a Core ML ``.mlpackage``) is hashed over its files in sorted relative-path order, each as
    ``path NUL size NUL bytes``, so the digest changes when any file is renamed, added or edited,
    and is the same on every machine for the same content.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        total = 0
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = file.relative_to(path).as_posix()
            size = file.stat().st_size
            total += size
            digest.update(f"{rel}\0{size}\0".encode())
            _hash_into(digest, file)
        return total, digest.hexdigest()
    _hash_into(digest, path)
    return path.stat().st_size, digest.hexdigest()


def _hash_into(digest: hashlib._Hash, file: Path) -> None:
    with open(file, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
