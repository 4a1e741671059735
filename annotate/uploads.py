"""Adding images to a project: several files in one request, or a zip in a background job.

Both are all-or-nothing for broken images: every file is checked before anything is written, and
a request (or job) with one bad image adds none. Files whose content is not an image at all are
an error in a request, and skipped (and reported) in a zip, where READMEs and label files are
common. The same bytes uploaded twice to a project are stored once; the second upload reports
the existing image (the oldest one of that content) as a duplicate and creates nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max

from jobs.models import Job
from jobs.runner import JobContext, JobError
from jobs.services import job_submit

from . import storage
from .archives import ArchiveRejected, file_members, open_checked_zip, read_member
from .imaging import CheckedImage, ImageRejected, check_image_bytes
from .models import Image, Project, Split

MAX_REPORTED_PROBLEMS = 20
T = TypeVar("T")


@dataclass
class UploadResult:
    created: list[Image] = field(default_factory=list)
    duplicates: list[Image] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "created": len(self.created),
            "duplicates": len(self.duplicates),
            "created_ids": [i.pk for i in self.created][:1000],
            "skipped": self.skipped[:MAX_REPORTED_PROBLEMS],
            "skipped_count": len(self.skipped),
        }


@contextmanager
def project_images_lock(*, project: Project) -> Iterator[None]:
    """A transaction in which the caller is the only one adding images to the project.

    Uploads, imports and generated images first read what the project holds (uploads
    de-duplicate by content, an import matches its entries to images it added before) and then
    add rows. The database cannot keep that exact by itself (content is not unique: an import
    keeps identical dataset entries apart), so one import or upload at a time per project takes
    the project's row lock, held until the transaction ends. Nested uses share it.
    """
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        yield


@dataclass(frozen=True)
class ImageEntry:
    """A new image row for a file already stored (:func:`annotate.storage.store_image`)."""

    sha256: str
    extension: str  # the stored file is ``storage.image_relative_path(sha256, extension)``
    mime_type: str
    size_bytes: int
    width: int
    height: int
    phash: str
    original_name: str = ""
    source: str = Image.Source.UPLOAD
    split: str = Split.UNASSIGNED
    meta: dict = field(default_factory=dict)

    @classmethod
    def of_checked(cls, image: CheckedImage, *, name: str = "", size_bytes: int | None = None, **fields) -> ImageEntry:
        """The entry of a checked image named ``name`` (its folders are dropped)."""
        return cls(
            sha256=image.sha256, extension=image.extension, mime_type=image.mime_type,
            size_bytes=len(image.data) if size_bytes is None else size_bytes, width=image.width,
            height=image.height, phash=image.phash, original_name=PurePosixPath(name).name if name else "", **fields,
        )


def images_create_bulk(*, project: Project, entries: Iterable[ImageEntry], user) -> list[Image]:
    """Create the rows of images whose files are stored, in bulk; returns them, in order, with ids.

    No per-row saves (an import adds tens of thousands); ids are set even on database backends
    whose bulk inserts do not return them. Holds :func:`project_images_lock`. Content is not
    de-duplicated here: the caller decides which entries are new images (see
    :func:`images_store_checked`).
    """
    rows = []
    for entry in entries:
        if entry.source not in Image.Source.values or entry.split not in Split.values:
            raise ValueError(f"Unknown image source {entry.source!r} or split {entry.split!r}.")
        rows.append(
            Image(
                project=project, sha256=entry.sha256, file=storage.image_relative_path(entry.sha256, entry.extension),
                mime_type=entry.mime_type, size_bytes=entry.size_bytes, width=entry.width, height=entry.height,
                original_name=entry.original_name[:255], source=entry.source, split=entry.split, phash=entry.phash,
                uploaded_by=user, meta=dict(entry.meta),
            )
        )
    if not rows:
        return []
    with project_images_lock(project=project):
        returns_ids = connection.features.can_return_rows_from_bulk_insert
        last = None if returns_ids else Image.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
        created = Image.objects.bulk_create(rows, batch_size=500)
        if not all(image.pk for image in created):
            # Under the lock nobody else adds images to the project, and ids grow in insert order.
            ids = list(Image.objects.filter(project=project, pk__gt=last or 0).order_by("id").values_list("id", flat=True))
            if len(ids) != len(created):
                raise RuntimeError(f"Created {len(created)} images but found {len(ids)} new rows in the project.")
            for image, pk in zip(created, ids):
                image.pk = pk
    return created


def images_store_checked(
    *, project: Project, checked: list[tuple[str, CheckedImage]], user, source: str, meta: dict | None = None
) -> UploadResult:
    """Store already-checked images (``(name, image)`` pairs) and create their rows, de-duplicated by content.

    Bytes the project already holds are not added again: the result lists the oldest image of
    that content among ``duplicates``; the same bytes twice in ``checked`` are one image. Every
    new image gets ``source`` and a copy of ``meta``. One upload or import at a time per project
    (:func:`project_images_lock`), so de-duplication is exact under concurrency.
    """
    result = UploadResult()
    unique: dict[str, tuple[str, CheckedImage]] = {}
    for name, image in checked:
        unique.setdefault(image.sha256, (name, image))
    with project_images_lock(project=project):
        existing: dict[str, Image] = {}
        for row in Image.objects.filter(project=project, sha256__in=list(unique)).order_by("id"):
            existing.setdefault(row.sha256, row)  # the oldest image of that content
        entries = []
        for sha, (name, image) in unique.items():
            if sha in existing:
                result.duplicates.append(existing[sha])
                continue
            storage.store_image(image.sha256, image.extension, image.data)
            entries.append(ImageEntry.of_checked(image, name=name, source=source, meta=dict(meta or {})))
        result.created = images_create_bulk(project=project, entries=entries, user=user)
    return result


def images_upload(*, project: Project, files: list, user, source: str = Image.Source.UPLOAD) -> UploadResult:
    """Add uploaded files (Django ``UploadedFile``s) to the project; all of them or none."""
    if not files:
        raise ValidationError({"files": "Send one or more image files in the 'files' field."})
    checked, problems = [], {}
    for upload in files:
        name = upload.name or "unnamed"
        try:
            if upload.size and upload.size > settings.IMAGE_MAX_BYTES:
                raise ImageRejected(f"The file is {upload.size:,} bytes; the limit is {settings.IMAGE_MAX_BYTES:,}.")
            checked.append((name, check_image_bytes(upload.read())))
        except ImageRejected as exc:
            problems[name] = str(exc)
    if problems:
        raise ValidationError(
            {"files": [f"{name}: {reason}" for name, reason in problems.items()],
             "detail": f"{len(problems)} of {len(files)} files were refused; no image was added."}
        )
    return images_store_checked(project=project, checked=checked, user=user, source=source)


def zip_upload_spool(*, upload, folder: str, check: Callable[[Path], T]) -> tuple[Path, T]:
    """Write an uploaded archive under ``DATA_DIR/<folder>/`` chunk by chunk, then ``check(path)``.

    Refused (400, nothing kept) when it is over ``ZIP_MAX_BYTES`` or when ``check`` raises; the
    caller then queues a job that reads the file. Returns the path and what ``check`` returned.
    """
    if upload is None:
        raise ValidationError({"file": "Send the zip archive in the 'file' field."})
    if upload.size > settings.ZIP_MAX_BYTES:
        raise ValidationError({"file": f"The archive is larger than {settings.ZIP_MAX_BYTES:,} bytes."})
    target = Path(settings.DATA_DIR) / folder
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{uuid.uuid4().hex}.zip"
    with open(path, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    try:
        return path, check(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def zip_check(path: str | Path) -> int:
    """Check an uploaded zip before queueing it; returns how many files it holds."""
    try:
        with open_checked_zip(str(path)) as archive:
            count = len(file_members(archive))
    except ArchiveRejected as exc:
        raise ValidationError({"file": str(exc)}) from None
    if count == 0:
        raise ValidationError({"file": "The archive holds no files."})
    return count


ZIP_UPLOAD_KIND = "images.upload_zip"


def images_upload_zip_start(*, project: Project, upload, user) -> Job:
    """Check an uploaded zip of images and queue adding them to the project (sent on commit).

    A bad archive is refused with ``ValidationError`` and nothing is queued; the job's work is
    :func:`images_upload_zip`.
    """
    path, count = zip_upload_spool(upload=upload, folder="uploads", check=zip_check)
    with transaction.atomic():
        return job_submit(
            kind=ZIP_UPLOAD_KIND, created_by=user, project=project,
            params={"path": str(path), "name": upload.name, "files": count},
        )


def images_upload_zip(*, project: Project, path: str | Path, user, ctx: JobContext) -> dict:
    """Job work: add every image in the zip to the project, or none if any image is broken."""
    try:
        archive = open_checked_zip(str(path))
    except ArchiveRejected as exc:
        raise JobError(str(exc)) from None
    checked: list[tuple[str, CheckedImage]] = []
    skipped: list[dict] = []
    broken: list[str] = []
    with archive:
        members = file_members(archive)
        for index, info in enumerate(members):
            ctx.progress(0.9 * index / max(len(members), 1), f"Checking {info.filename}")
            try:
                checked.append((info.filename, check_image_bytes(read_member(archive, info))))
            except ArchiveRejected as exc:
                broken.append(str(exc))
            except ImageRejected as exc:
                if str(exc).startswith("The file is not an image"):
                    skipped.append({"file": info.filename, "reason": str(exc)})
                else:
                    broken.append(f"{info.filename}: {exc}")
    if broken:
        listed = "; ".join(broken[:MAX_REPORTED_PROBLEMS])
        raise JobError(f"{len(broken)} broken image(s) in the archive, so none were added: {listed}")
    if not checked:
        raise JobError("The archive holds no images.")
    ctx.progress(0.9, f"Storing {len(checked)} images", force=True)
    result = images_store_checked(project=project, checked=checked, user=user, source=Image.Source.UPLOAD)
    result.skipped = skipped
    Path(path).unlink(missing_ok=True)
    return result.summary()
