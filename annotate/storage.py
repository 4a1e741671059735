"""Content-addressed file storage under MEDIA_ROOT.

A file's path is derived from its sha256, so the same bytes are stored once however many times
(or into however many projects) they are uploaded, and a stored file never changes. Writes go to
a temporary name first and are renamed into place, so a reader never sees half a file.

Because a file is shared, removing it races with adding a row that uses it: a deleter that found
no user, and an upload (in another project) that found the file already there, would lose it
between them. :func:`files_lock` orders the two; see :func:`delete_unreferenced`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction


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
    """Remove ``relative`` unless ``still_used``, an answer its caller found earlier.

    Not safe against a concurrent writer of the same file (the answer may be stale by now): for
    files that uploads share, use :func:`delete_unreferenced`, which asks again under the lock.
    """
    if not still_used:
        media_path(relative).unlink(missing_ok=True)


# --- the lock between writers and deleters of shared files ------------------------------------
# PostgreSQL advisory locks are kept in a fixed-size shared table (max_locks_per_transaction), so
# files are striped over a few lock keys rather than locked one by one: an upload of 10,000
# images holds at most LOCK_STRIPES locks. Two files on one stripe only make a removal wait for an
# upload it did not need to wait for.
LOCK_NAMESPACE = 0x4C46_5354  # first key of the two-key advisory locks: "LFST", Lensforge storage
LOCK_STRIPES = 64
DELETE_BATCH = 500


def _stripes(relatives: Iterable[str]) -> list[int]:
    digests = (hashlib.sha256(r.encode()).digest() for r in relatives)
    return sorted({int.from_bytes(d[:4], "big") % LOCK_STRIPES for d in digests})


def files_lock(relatives: Iterable[str], *, exclusive: bool = False) -> None:
    """Hold the lock of every stored file in ``relatives`` until the current transaction ends.

    Whoever makes a row use a stored file takes it (shared: uploads do not wait for each other)
    before looking whether the file is there, and keeps it until the row is committed; removing
    a file takes it exclusively around the check that no row uses it and the unlink. So either
    the removal sees the committed row and keeps the file, or the writer finds the file gone and
    writes it again. Take every lock a transaction needs in one call: stripes are taken in order,
    which is what keeps two transactions from waiting on each other.

    On PostgreSQL these are transaction-level advisory locks. SQLite has nothing to take: every
    transaction there is ``BEGIN IMMEDIATE`` (``config/settings/base.py``) and holds the one
    write lock from its start, so writers and removals already run one at a time.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("files_lock holds its locks until the transaction ends; call it inside one.")
    if connection.vendor == "postgresql":
        stripes = _stripes(relatives)
        if stripes:
            function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            with connection.cursor() as cursor:  # unnest keeps the array's order: stripes in order
                cursor.execute(f"SELECT {function}(%s, s) FROM unnest(%s::int[]) AS s", [LOCK_NAMESPACE, stripes])
    elif connection.vendor == "sqlite":
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            raise ImproperlyConfigured("SQLite transactions must be IMMEDIATE for stored files to be removed safely.")
    else:
        raise ImproperlyConfigured(f"No lock for stored files on {connection.vendor}; use PostgreSQL or SQLite.")


def delete_unreferenced(relatives: Iterable[str], *, in_use: Callable[[list[str]], Iterable[str]]) -> None:
    """Remove the stored files among ``relatives`` that nothing uses any more; run it after commit.

    ``in_use(batch)`` returns those of ``batch`` that committed rows still use. It is asked here,
    under the exclusive :func:`files_lock`, not by the caller earlier: an upload of the same bytes
    may have committed since, or be about to, and the lock waits for it.
    """
    pending = sorted(set(relatives))
    for start in range(0, len(pending), DELETE_BATCH):
        batch = pending[start:start + DELETE_BATCH]
        with transaction.atomic():
            files_lock(batch, exclusive=True)
            used = set(in_use(batch))
            for relative in batch:
                if relative not in used:
                    media_path(relative).unlink(missing_ok=True)
