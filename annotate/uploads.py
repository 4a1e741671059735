"""Adding images to a project: several files in one request, or a zip in a background job.

Both are all-or-nothing for broken images: every file is checked before anything is written, and
a request (or job) with one bad image adds none. Files whose content is not an image at all are
an error in a request, and skipped (and reported) in a zip, where READMEs and label files are
common. The same bytes uploaded twice to a project are stored once; the second upload reports
the existing image (the oldest one of that content) as a duplicate and creates nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.runner import JobContext, JobError

from . import storage
from .archives import ArchiveRejected, file_members, open_checked_zip, read_member
from .imaging import CheckedImage, ImageRejected, check_image_bytes
from .models import Image, Project

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


def _save_checked(
    *, project: Project, checked: list[tuple[str, CheckedImage]], user, source: str, meta: dict | None = None
) -> UploadResult:
    """Store files and create rows for already-checked images, de-duplicated by content."""
    result = UploadResult()
    unique: dict[str, tuple[str, CheckedImage]] = {}
    for name, image in checked:
        unique.setdefault(image.sha256, (name, image))
    with transaction.atomic():
        # The database does not make content unique (an import keeps identical dataset entries apart),
        # so uploads to one project take turns here to keep their de-duplication exact.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        existing: dict[str, Image] = {}
        for row in Image.objects.filter(project=project, sha256__in=list(unique)).order_by("id"):
            existing.setdefault(row.sha256, row)  # the oldest image of that content
        to_create = []
        for sha, (name, image) in unique.items():
            if sha in existing:
                result.duplicates.append(existing[sha])
                continue
            relative = storage.store_image(image.sha256, image.extension, image.data)
            to_create.append(
                Image(
                    project=project, sha256=sha, file=relative, mime_type=image.mime_type,
                    size_bytes=len(image.data), width=image.width, height=image.height,
                    original_name=PurePosixPath(name).name[:255], source=source, phash=image.phash,
                    uploaded_by=user, meta=dict(meta or {}),
                )
            )
        result.created = Image.objects.bulk_create(to_create, batch_size=500)
        if not all(i.pk for i in result.created):  # backends that do not return ids from bulk inserts
            by_sha = {i.sha256: i for i in Image.objects.filter(project=project, sha256__in=[i.sha256 for i in to_create])}
            result.created = [by_sha[i.sha256] for i in to_create]
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
    return _save_checked(project=project, checked=checked, user=user, source=source)


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
    result = _save_checked(project=project, checked=checked, user=user, source=Image.Source.UPLOAD)
    result.skipped = skipped
    Path(path).unlink(missing_ok=True)
    return result.summary()
