"""Writes of the export app: creating and building versions, making and caching exports.

Services take keyword-only arguments and raise Django's ``ValidationError`` for the caller's
mistakes (the API turns it into a 400); job work raises :class:`~jobs.runner.JobError` for
problems found while running, which fail the job with that message.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Annotation, Image, Project
from jobs.models import Job
from jobs.runner import JobContext
from jobs.services import job_create, job_enqueue

from . import formats
from .models import DatasetVersion, Export, VersionImage
from .streaming import ZipStream
from .versions import BuildContext, run_pipeline, selected_images

DEFAULT_SPLIT = {"mode": "project", "train": 0.7, "val": 0.2, "test": 0.1, "seed": 0}
RESIZE_MAX_SIDE = 8192


# --- versions -------------------------------------------------------------------------------
def version_params_clean(params: dict) -> dict:
    """Complete and check build parameters; raises ``ValidationError`` naming the field."""
    image_sources = list(params.get("image_sources") or [Image.Source.UPLOAD, Image.Source.IMPORT, Image.Source.SYNTHETIC])
    unknown = [s for s in image_sources if s not in Image.Source.values]
    if unknown:
        raise ValidationError({"image_sources": f"Unknown image source(s) {unknown}; use {Image.Source.values}."})
    annotation_sources = list(
        params.get("annotation_sources")
        or [Annotation.Source.MANUAL, Annotation.Source.IMPORTED, Annotation.Source.SYNTHETIC]
    )
    unknown = [s for s in annotation_sources if s not in Annotation.Source.values]
    if unknown:
        raise ValidationError(
            {"annotation_sources": f"Unknown annotation source(s) {unknown}; use {Annotation.Source.values}."}
        )
    split = {**DEFAULT_SPLIT, **(params.get("split") or {})}
    if split["mode"] not in ("project", "ratios"):
        raise ValidationError({"split": "split.mode must be 'project' (keep the project's splits) or 'ratios'."})
    ratios = [split[k] for k in ("train", "val", "test")]
    if any(isinstance(r, bool) or not isinstance(r, (int, float)) or r < 0 for r in ratios):
        raise ValidationError({"split": "Split ratios must be non-negative numbers."})
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValidationError({"split": f"Split ratios must add up to 1 (they add up to {sum(ratios):g})."})
    if isinstance(split["seed"], bool) or not isinstance(split["seed"], int):
        raise ValidationError({"split": "split.seed must be a whole number."})
    preprocessing = dict(params.get("preprocessing") or {})
    resize = preprocessing.get("resize")
    if resize:
        if not isinstance(resize, dict) or resize.get("mode") not in ("stretch", "letterbox"):
            raise ValidationError({"preprocessing": "resize.mode must be 'stretch' or 'letterbox'."})
        for key in ("width", "height"):
            value = resize.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= RESIZE_MAX_SIDE:
                raise ValidationError({"preprocessing": f"resize.{key} must be a whole number of pixels, 1..{RESIZE_MAX_SIDE}."})
        resize = {"mode": resize["mode"], "width": resize["width"], "height": resize["height"]}
    cleaned = {
        **{k: v for k, v in params.items() if k not in ("name",)},
        "image_sources": image_sources,
        "annotation_sources": annotation_sources,
        "include_unannotated": bool(params.get("include_unannotated", True)),
        "split": split,
        # Orientation from EXIF is applied once, when an image is stored, so it is always on.
        "preprocessing": {"auto_orient": True, "resize": resize or None},
    }
    return cleaned


def _frozen_labels(project: Project) -> list[dict]:
    return [
        {"name": label.name, "color": label.color, "keypoint_names": list(label.keypoint_names),
         "skeleton": [list(edge) for edge in label.skeleton]}
        for label in project.labels.order_by("id")
    ]


def version_create(*, project: Project, created_by, name: str = "", params: dict | None = None) -> DatasetVersion:
    """Record a new version (status building) and queue its build; the version carries the job.

    Refused (nothing written) when the parameters are wrong or select no image.
    """
    from .tasks import version_build_task

    cleaned = version_params_clean(dict(params or {}))
    if not selected_images(project=project, params=cleaned).exists():
        raise ValidationError({"detail": "No images match this selection (sources, annotated only); nothing to build."})
    for _attempt in range(3):
        try:
            with transaction.atomic():
                number = (project.versions.aggregate(n=Max("number"))["n"] or 0) + 1
                job = job_create(kind="export.version_build", created_by=created_by, project=project,
                                 params={"number": number})
                version = DatasetVersion.objects.create(
                    project=project, number=number, name=name, params=cleaned, labels=_frozen_labels(project),
                    created_by=created_by, job=job,
                )
                job.params = {"version": version.pk, "number": number}
                job.save(update_fields=["params"])
                job_enqueue(job=job, task=version_build_task)
            return version
        except IntegrityError:  # two builds raced for the same number; take the next one
            continue
    raise ValidationError({"detail": "Could not number the new version; try again."})


def version_build(*, version: DatasetVersion, ctx: JobContext | None = None) -> dict:
    """Job work: run the build pipeline, then mark the version ready (or failed, rows removed)."""
    if version.status != DatasetVersion.Status.BUILDING:
        return {"version": version.pk, "status": version.status}
    VersionImage.objects.filter(version=version).delete()  # a redelivered build starts clean
    build = BuildContext(version=version, params=version.params, job=ctx)
    build.total = selected_images(project=version.project, params=version.params).count()
    try:
        result = run_pipeline(build)
        # Writers that can precompute per-image output do it now, once (the version never changes).
        version.counts, version.image_count = result["counts"], result["image_count"]
        progress = (lambda f, m: ctx.progress(0.95 + 0.05 * f, m)) if ctx else None
        if formats.yolo.materialize(version, progress=progress):
            result["materialized"] = {**result["materialized"], "yolo": formats.yolo.LINES_REVISION}
    except BaseException as exc:
        VersionImage.objects.filter(version=version).delete()
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=DatasetVersion.Status.FAILED, error=(str(exc) or type(exc).__name__)[:2000]
        )
        raise
    DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersion.Status.BUILDING).update(
        status=DatasetVersion.Status.READY, built_at=timezone.now(), **result
    )
    version.refresh_from_db()
    return {"version": version.pk, "number": version.number, "images": version.image_count,
            "annotations": version.annotation_count, "content_hash": version.content_hash}


def version_delete(*, version: DatasetVersion) -> None:
    """Delete a version that is not building, with its cached exports. Its files are kept (shared)."""
    if version.status == DatasetVersion.Status.BUILDING:
        raise ValidationError({"detail": "The version is still building; cancel its job first."})
    paths = [e.path for e in version.exports.all() if e.path]
    with transaction.atomic():
        DatasetVersion.objects.filter(pk=version.pk).delete()
    for path in paths:
        Path(path).unlink(missing_ok=True)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".zip")
    complete = False
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in export_chunks(version=version, fmt=fmt, with_images=with_images):
                out.write(chunk)
                yield chunk
        os.replace(tmp, target)
        complete = True
        _record_ready(version, fmt, with_images, target, None)
    finally:
        if not complete:
            Path(tmp).unlink(missing_ok=True)


def export_write_file(*, version: DatasetVersion, fmt: str, with_images: bool, ctx: JobContext | None = None) -> Path:
    """Write the archive to its cache path (atomically) and return the path."""
    target = export_cache_path(version=version, fmt=fmt, with_images=with_images)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in export_chunks(version=version, fmt=fmt, with_images=with_images, ctx=ctx):
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def export_start(*, version: DatasetVersion, fmt: str, with_images: bool, user) -> Export:
    """Queue a large export as a job; raises :class:`ExportRunning` if the same one is running."""
    from .tasks import export_task

    with transaction.atomic():
        export = (
            Export.objects.select_for_update(of=("self",))  # PostgreSQL cannot lock the nullable join
            .select_related("job")
            .filter(version=version, format=fmt, with_images=with_images)
            .first()
        )
        if export and export.status == Export.Status.RUNNING and export.job and not export.job.is_terminal:
            raise ExportRunning(export.job)
        job = job_create(kind="export.export", created_by=user, project=version.project,
                         params={"version": version.pk, "format": fmt, "images": with_images})
        export, _ = Export.objects.update_or_create(
            version=version, format=fmt, with_images=with_images,
            defaults={"status": Export.Status.RUNNING, "job": job, "path": "", "size_bytes": 0, "error": "",
                      "finished_at": None},
        )
        job_enqueue(job=job, task=export_task)
    export.job = job
    return export


def export_run(*, export: Export, ctx: JobContext | None = None) -> dict:
    """Job work for a queued export: write the file, record it ready (or failed)."""
    version = export.version
    try:
        path = export_write_file(version=version, fmt=export.format, with_images=export.with_images, ctx=ctx)
    except BaseException as exc:
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED, error=(str(exc) or type(exc).__name__)[:2000])
        raise
    done = _record_ready(version, export.format, export.with_images, path, export.job)
    return {"export": done.pk, "version": version.pk, "format": export.format, "images": export.with_images,
            "size_bytes": done.size_bytes, "etag": done.etag}
