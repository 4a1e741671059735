"""Reading zip archives that users upload, safely.

Refused before anything is extracted: names that are absolute or climb out with ``..``, links,
more members than ``ZIP_MAX_MEMBERS``, and archives whose members add up to more than
``ZIP_MAX_UNCOMPRESSED_BYTES`` once uncompressed (a zip bomb). Python's ``zipfile`` never returns
more bytes for a member than its header declares, so checking the declared sizes bounds the work.

One member is read whole into memory (an image, an annotation file), so each read has its own
cap (:func:`read_member`): a member declaring more is refused without reading a byte, and the read
itself stops one byte past the cap, so that a header that lies cannot make it hold more.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings

IGNORED_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


class ArchiveRejected(ValueError):
    """The archive is unsafe or unreadable; the message says why."""


def _unsafe_name(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if "\\" in name:
        name = name.replace("\\", "/")
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the archive with '..'"
    return None


def open_checked_zip(fileobj: BinaryIO | str) -> zipfile.ZipFile:
    """Open a zip and check every member's name, type and the total size. Raises ArchiveRejected."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveRejected("The file is not a readable zip archive.") from None
    infos = archive.infolist()
    if len(infos) > settings.ZIP_MAX_MEMBERS:
        raise ArchiveRejected(f"The archive has {len(infos):,} members; the limit is {settings.ZIP_MAX_MEMBERS:,}.")
    total = 0
    for info in infos:
        problem = _unsafe_name(info.filename)
        if problem:
            raise ArchiveRejected(f"The archive member {info.filename!r} {problem}; nothing was extracted.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveRejected(f"The archive member {info.filename!r} is a link; links are not accepted.")
        total += info.file_size
    if total > settings.ZIP_MAX_UNCOMPRESSED_BYTES:
        raise ArchiveRejected(
            f"The archive would uncompress to {total:,} bytes; the limit is "
            f"{settings.ZIP_MAX_UNCOMPRESSED_BYTES:,} (zip bomb?)."
        )
    return archive


def file_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The regular files of a checked archive, without folders and OS litter, in name order."""
    members = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        parts = PurePosixPath(info.filename).parts
        if any(part in IGNORED_PARTS or part.startswith("._") for part in parts):
            continue
        members.append(info)
    return sorted(members, key=lambda i: i.filename)


READ_CHUNK = 1024 * 1024


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int) -> bytes:
    """The member's bytes, if it holds at most ``limit`` of them. Raises ArchiveRejected.

    Refused by its declared size first (nothing is read), then read in chunks up to ``limit + 1``
    bytes: ``archive.read`` would allocate whatever the member claims, and a 1 MB zip may claim a
    gigabyte. (The whole archive's declared total is bounded by :func:`open_checked_zip`.)
    """
    if info.file_size > limit:
        raise ArchiveRejected(
            f"The archive member {info.filename!r} is {info.file_size:,} bytes once uncompressed; the limit is "
            f"{limit:,}; it was not read."
        )
    chunks, total = [], 0
    try:
        with archive.open(info) as member:
            while total <= limit:
                chunk = member.read(min(READ_CHUNK, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveRejected(f"The archive member {info.filename!r} cannot be read ({exc}).") from None
    if total > limit:
        raise ArchiveRejected(f"The archive member {info.filename!r} holds more than {limit:,} bytes; the limit is {limit:,}.")
    return b"".join(chunks)


def iter_files(archive: zipfile.ZipFile, *, limit: int) -> Iterator[tuple[zipfile.ZipInfo, bytes]]:
    for info in file_members(archive):
        yield info, read_member(archive, info, limit=limit)
