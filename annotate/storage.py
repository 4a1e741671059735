"""Content-addressed file storage under MEDIA_ROOT.

A file's path is derived from its sha256, so the same bytes are stored once however many times
(or into however many projects) they are uploaded, and a stored file never changes. Writes go to
a temporary name first and are renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def image_relative_path(sha256: str, extension: str) -> str:
    return f"images/{sha256[:2]}/{sha256}.{extension}"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary path next to ``path`` for the caller to create; it then replaces ``path``.

    The temporary name is in the same folder (so the rename is atomic: a reader sees the old
    file or the whole new one, never half of it) and does not exist yet, for writers that make
    the file themselves (``os.link``, ``shutil.copyfile``, a library writing to a path). When the
    block raises (or a generator holding it is closed), the temporary file is removed and
    ``path`` is left as it was. The one atomic-write helper; :func:`atomic_file` opens the file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex[:16]}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """A file object writing to a temporary next to ``path``, which replaces ``path`` on success.

    On failure the temporary is removed and ``path`` is untouched (see :func:`atomic_path`).
    The file is created readable by its owner only, as :func:`tempfile.mkstemp` makes it.
    """
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, mode) as fh:
            yield fh


def write_atomic(relative: str, data: bytes) -> str:
    """Store ``data`` at ``relative`` unless it is already there; return ``relative``."""
    target = media_path(relative)
    if target.exists():
        return relative
    with atomic_file(target) as fh:
        fh.write(data)
    return relative


def store_image(sha256: str, extension: str, data: bytes) -> str:
    return write_atomic(image_relative_path(sha256, extension), data)


def thumbnail_relative_path(sha256: str, size: int) -> str:
    return f"thumbs/{sha256[:2]}/{sha256}-{size}.jpg"


def delete_if_unreferenced(relative: str, still_used: bool) -> None:
    if not still_used:
        media_path(relative).unlink(missing_ok=True)
