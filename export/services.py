"""Writes of dataset exports: make an archive (streamed, or as a job for large versions) and cache it.

Services take keyword-only arguments and raise Django's ``ValidationError`` for the caller's
mistakes (the API turns it into a 400).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from annotate import storage
from datasets.models import DatasetVersion
from jobs.models import Job
from jobs.public_text import without_server_paths
from jobs.runner import JobContext
from jobs.services import job_submit

from . import dataset_formats as formats
from .models import Export
from .streaming import ZipStream


# --- exports --------------------------------------------------------------------------------
class ExportRunning(Exception):
    """The same export is already being made; carries its job."""

    def __init__(self, job: Job):
        super().__init__("This export is already being prepared.")
        self.job = job


def export_etag(*, version: DatasetVersion, fmt: str, with_images: bool) -> str:
    """Names the archive's content before it exists: exports are deterministic."""
    key = f"{version.content_hash}:{fmt}:{int(with_images)}:{formats.WRITER_REVISION}"
    if fmt == "tfrecord":  # the shard size shapes the archive too
        key += f":{formats.tfrecord.shard_size()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def export_cache_path(*, version: DatasetVersion, fmt: str, with_images: bool) -> Path:
    folder = Path(getattr(settings, "EXPORT_CACHE_DIR", None) or Path(settings.DATA_DIR) / "exports")
    etag = export_etag(version=version, fmt=fmt, with_images=with_images)
    return folder / f"v{version.pk}-{fmt}-{'images' if with_images else 'labels'}-{etag}.zip"


def export_check(*, version: DatasetVersion, fmt: str) -> None:
    if fmt not in formats.WRITERS:
        raise ValidationError({"format": f"Unknown format {fmt!r}; use one of {', '.join(formats.WRITERS)}."})
    if version.status != DatasetVersion.Status.READY:
        raise ValidationError({"detail": f"Version {version.number} is {version.status}; only a ready version exports."})
    problem = formats.WRITERS[fmt].check(version)
    if problem:
        raise ValidationError({"format": problem})


def export_chunks(*, version: DatasetVersion, fmt: str, with_images: bool, ctx: JobContext | None = None) -> Iterator[bytes]:
    """The export archive as a stream of chunks (memory bounded by one chunk)."""
    writer = formats.WRITERS[fmt]
    members = writer.members(version, with_images=with_images, progress=ctx.progress if ctx else None)
    return ZipStream().iter_zip(members)


def export_cached(*, version: DatasetVersion, fmt: str, with_images: bool) -> Export | None:
    """The finished export, if its file is still there."""
    export = Export.objects.filter(version=version, format=fmt, with_images=with_images,
                                   status=Export.Status.READY).first()
    if export and export.path and Path(export.path).is_file():
        return export
    return None


def _record_ready(version: DatasetVersion, fmt: str, with_images: bool, path: Path, job: Job | None) -> Export:
    etag = export_etag(version=version, fmt=fmt, with_images=with_images)
    fields = {"status": Export.Status.READY, "path": str(path), "size_bytes": path.stat().st_size, "etag": etag,
              "error": "", "finished_at": timezone.now()}
    if job is not None:
        fields["job"] = job
    try:
        with transaction.atomic():
            export, _ = Export.objects.update_or_create(
                version=version, format=fmt, with_images=with_images, defaults=fields
            )
    except IntegrityError:  # the same export finished in another request at the same moment
        Export.objects.filter(version=version, format=fmt, with_images=with_images).update(**fields)
        export = Export.objects.get(version=version, format=fmt, with_images=with_images)
    return export


def export_stream_and_cache(*, version: DatasetVersion, fmt: str, with_images: bool) -> Iterator[bytes]:
    """Stream the archive to the caller and keep a copy; the copy becomes the cache once complete.

    If the caller goes away half-way, the generator is closed and the partial copy removed.
    """
    target = export_cache_path(version=version, fmt=fmt, with_images=with_images)
    with storage.atomic_file(target) as out:
        for chunk in export_chunks(version=version, fmt=fmt, with_images=with_images):
            out.write(chunk)
            yield chunk
    _record_ready(version, fmt, with_images, target, None)


def export_write_file(*, version: DatasetVersion, fmt: str, with_images: bool, ctx: JobContext | None = None) -> Path:
    """Write the archive to its cache path (atomically) and return the path."""
    target = export_cache_path(version=version, fmt=fmt, with_images=with_images)
    with storage.atomic_file(target) as out:
        for chunk in export_chunks(version=version, fmt=fmt, with_images=with_images, ctx=ctx):
            out.write(chunk)
    return target


def export_start(*, version: DatasetVersion, fmt: str, with_images: bool, user) -> Export:
    """Queue a large export as a job; raises :class:`ExportRunning` if the same one is running."""
    with transaction.atomic():
        export = (
            Export.objects.select_for_update(of=("self",))  # PostgreSQL cannot lock the nullable join
            .select_related("job")
            .filter(version=version, format=fmt, with_images=with_images)
            .first()
        )
        if export and export.status == Export.Status.RUNNING and export.job and not export.job.is_terminal:
            raise ExportRunning(export.job)
        # Sent on commit, when the export row that points at the job is there for the worker.
        job = job_submit(kind="export.export", created_by=user, project=version.project,
                         params={"version": version.pk, "format": fmt, "images": with_images})
        export, _ = Export.objects.update_or_create(
            version=version, format=fmt, with_images=with_images,
            defaults={"status": Export.Status.RUNNING, "job": job, "path": "", "size_bytes": 0, "error": "",
                      "finished_at": None},
        )
    export.job = job
    return export


# --- serving an export request ----------------------------------------------------------------
@dataclass(frozen=True)
class ExportCachedFile:
    """The archive is on disk: serve the file (it answers If-None-Match and Range itself)."""

    path: Path
    etag: str
    filename: str


@dataclass(frozen=True)
class ExportJobStarted:
    """A large export was queued as this job (202)."""

    job: Job


@dataclass(frozen=True)
class ExportJobRunning:
    """The same export is already being prepared by this job (409)."""

    job: Job


@dataclass(frozen=True)
class ExportNotModified:
    """The caller already has this archive (304)."""

    etag: str


@dataclass(frozen=True)
class ExportStream:
    """A small export: stream these chunks (they are cached as they go)."""

    chunks: Iterator[bytes]
    etag: str
    filename: str


ExportServed = ExportCachedFile | ExportJobStarted | ExportJobRunning | ExportNotModified | ExportStream


def export_filename(*, version: DatasetVersion, fmt: str, with_images: bool) -> str:
    project = slugify(version.project.name) or "project"
    return f"{project}-v{version.number}-{fmt}{'' if with_images else '-labels'}.zip"


def export_serve(
    *, version: DatasetVersion, fmt: str, with_images: bool, user, if_none_match: str = ""
) -> ExportServed:
    """What a request for the version's archive gets: the cached file, a job (started, or the one
    already running) for a large version (``EXPORT_JOB_MIN_IMAGES`` images or more), 304 for an
    archive the caller has, or a stream that is cached as it goes.

    Raises ``ValidationError`` for an unknown format or a version that cannot export in it.
    """
    export_check(version=version, fmt=fmt)
    filename = export_filename(version=version, fmt=fmt, with_images=with_images)
    cached = export_cached(version=version, fmt=fmt, with_images=with_images)
    if cached is not None:
        return ExportCachedFile(path=Path(cached.path), etag=cached.etag, filename=filename)
    if version.image_count >= settings.EXPORT_JOB_MIN_IMAGES:
        try:
            export = export_start(version=version, fmt=fmt, with_images=with_images, user=user)
        except ExportRunning as exc:
            return ExportJobRunning(job=exc.job)
        return ExportJobStarted(job=export.job)
    etag = export_etag(version=version, fmt=fmt, with_images=with_images)
    if f'"{etag}"' in if_none_match:
        return ExportNotModified(etag=etag)
    chunks = export_stream_and_cache(version=version, fmt=fmt, with_images=with_images)
    return ExportStream(chunks=chunks, etag=etag, filename=filename)


def export_run(*, export: Export, ctx: JobContext | None = None) -> dict:
    """Job work for a queued export: write the file, record it ready (or failed)."""
    version = export.version
    try:
        path = export_write_file(version=version, fmt=export.format, with_images=export.with_images, ctx=ctx)
    except BaseException as exc:
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error=without_server_paths(str(exc) or type(exc).__name__)[:2000])
        raise
    done = _record_ready(version, export.format, export.with_images, path, export.job)
    return {"export": done.pk, "version": version.pk, "format": export.format, "images": export.with_images,
            "size_bytes": done.size_bytes, "etag": done.etag}
