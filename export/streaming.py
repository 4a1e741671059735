"""A zip archive written as a stream of chunks, with memory bounded by one chunk.

Python's ``zipfile`` can write to a file object that cannot seek: it then puts each member's
sizes and CRC in a data descriptor after the data. :class:`ZipStream` gives it such an object,
which only collects what was written; the writer yields what has collected after every member
(and every ``CHUNK_BYTES`` of a big member), so a download of any size starts at once and the
process never holds more than one chunk of it.

Images go in ``ZIP_STORED`` (JPEG, PNG and WebP do not compress further; deflating them costs
time for nothing); text members (JSON, XML, label files) are deflated. Every member gets the
same fixed timestamp, so the same version exported twice gives byte-identical archives, which is
what lets the ETag be computed before the archive exists.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, HttpResponse, HttpResponseNotModified, StreamingHttpResponse

CHUNK_BYTES = 1024 * 1024
FIXED_DATE = (2000, 1, 1, 0, 0, 0)
# Annotation files are mostly digits, which deflate nearly as well at the fastest level.
COMPRESS_LEVEL = 1
SMALL_STORED_BYTES = 2048
STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tfrecord", ".zip"}


class LocalFile(str):
    """A member's content is this file (a plain path string: cheaper than ``Path`` per image)."""


class _Collector:
    """A write-only, non-seekable file object that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.size = 0  # bytes written and not yet taken

    def write(self, data) -> int:
        if type(data) is not bytes:
            data = bytes(data)
        self._parts.append(data)
        self._position += len(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return data


def _compression_for(name: str) -> int:
    suffix = os.path.splitext(name)[1].lower()
    if suffix in STORED_SUFFIXES or ".tfrecord" in name:
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


class ZipStream:
    """Turns ``(name, source)`` members into the archive's bytes, lazily (see :meth:`iter_zip`).

    A source is ``bytes``, a :class:`~pathlib.Path` or :class:`LocalFile` naming a file, or an
    iterator of ``bytes``/``str`` pieces (a member generated as it is written, e.g. a large JSON).
    """

    def __init__(self) -> None:
        self._sink = _Collector()
        self._zip = zipfile.ZipFile(self._sink, "w", allowZip64=True, compresslevel=COMPRESS_LEVEL)
        self.names: set[str] = set()

    def _info(self, name: str, compress_type: int | None = None) -> zipfile.ZipInfo:
        if name in self.names:
            raise ValueError(f"Duplicate member {name!r} in an export.")
        self.names.add(name)
        info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
        info.compress_type = _compression_for(name) if compress_type is None else compress_type
        if info.compress_type == zipfile.ZIP_DEFLATED:
            info._compresslevel = COMPRESS_LEVEL  # Python 3.11's name; ZipFile(compresslevel=) skips ZipInfo members
        info.external_attr = 0o644 << 16
        return info

    def _write_small(self, name: str, data: bytes) -> None:
        # A deflate stream per tiny file costs more than it saves.
        stored = zipfile.ZIP_STORED if len(data) < SMALL_STORED_BYTES else None
        self._zip.writestr(self._info(name, stored), data)

    def _write_large_file(self, name: str, path: str, size: int) -> Iterator[bytes]:
        info = self._info(name)
        info.file_size = size
        with open(path, "rb") as src, self._zip.open(info, "w") as dst:
            while chunk := src.read(CHUNK_BYTES):
                dst.write(chunk)
                if self._sink.size:
                    yield self._sink.take()

    def _write_generated(self, name: str, pieces) -> Iterator[bytes]:
        # Size unknown in advance, so allow it to pass 4 GiB.
        with self._zip.open(self._info(name), "w", force_zip64=True) as dst:
            for piece in pieces:
                dst.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
                if self._sink.size >= CHUNK_BYTES:
                    yield self._sink.take()

    def iter_zip(self, members) -> Iterator[bytes]:
        """The whole archive for an iterable of ``(name, source)`` members, as non-empty chunks of
        about ``CHUNK_BYTES`` (one small member more at most)."""
        sink = self._sink
        for name, source in members:
            if isinstance(source, (bytes, bytearray)):
                data = bytes(source)
            elif isinstance(source, (Path, LocalFile)):
                size = os.stat(source).st_size
                if size > CHUNK_BYTES:
                    if sink.size:
                        yield sink.take()
                    yield from self._write_large_file(name, str(source), size)
                    continue
                with open(source, "rb") as fh:
                    data = fh.read()
            else:
                yield from self._write_generated(name, source)
                continue
            if sink.size and sink.size + len(data) >= CHUNK_BYTES:
                yield sink.take()
            self._write_small(name, data)
            if sink.size >= CHUNK_BYTES:
                yield sink.take()
        self._zip.close()
        if sink.size:
            yield sink.take()


# --- serving a finished archive: ETag, conditional GET and byte ranges -----------------------
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """The (first, last) byte of a single ``Range: bytes=...`` request.

    Returns None when the header should be ignored (absent, not bytes, several ranges: the whole
    file is sent), ``"unsatisfiable"`` when it asks for bytes past the end (416).
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def _file_slice(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = fh.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def file_response(request, path: Path, *, etag: str, filename: str, content_type: str = "application/zip"):
    """Serve a finished file: 304 for a matching If-None-Match, 206 / 416 for ranges, else 200."""
    quoted = f'"{etag}"'
    size = path.stat().st_size
    if quoted in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
        response["ETag"] = quoted
        return response
    wanted = parse_range(request.headers.get("Range", ""), size)
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != quoted:
        wanted = None  # the client's partial copy is of another version of the file: send it all
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        response = StreamingHttpResponse(_file_slice(path, start, end), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["ETag"] = quoted
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-cache"
    return response
