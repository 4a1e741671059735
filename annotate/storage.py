"""Content-addressed file storage under MEDIA_ROOT.

A file's path is derived from its sha256, so the same bytes are stored once however many times
(or into however many projects) they are uploaded, and a stored file never changes. Writes go to
a temporary name first and are renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def image_relative_path(sha256: str, extension: str) -> str:
    return f"images/{sha256[:2]}/{sha256}.{extension}"


def write_atomic(relative: str, data: bytes) -> str:
    """Store ``data`` at ``relative`` unless it is already there; return ``relative``."""
    target = media_path(relative)
    if target.exists():
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return relative


def store_image(sha256: str, extension: str, data: bytes) -> str:
    return write_atomic(image_relative_path(sha256, extension), data)


def thumbnail_relative_path(sha256: str, size: int) -> str:
    return f"thumbs/{sha256[:2]}/{sha256}-{size}.jpg"


def delete_if_unreferenced(relative: str, still_used: bool) -> None:
    if not still_used:
        media_path(relative).unlink(missing_ok=True)
