"""Adding images to a project: several files in one request, or a zip in a background job.

Both are all-or-nothing for broken images: every file is checked before anything is written, and
a request (or job) with one bad image adds none; a zip uploaded with ``skip_broken`` adds the rest
and lists the broken ones it left out (and why) under ``skipped``. Files whose content is not an
image at all are an error in a request, and skipped (and reported) in a zip, where READMEs and
label files are common. A JPEG that only lacks its end-of-image marker is stored repaired and
listed under ``repaired`` (:func:`annotate.imaging.jpeg_missing_eoi_repaired`). The same bytes
uploaded twice to a project are stored once; the second upload reports the existing image (the
oldest one of that content) as a duplicate and creates nothing.

A zip's images are checked one by one; their bytes stay in memory until they are stored only up to
``KEEP_IMAGE_BYTES`` in all, and the rest are read from the archive again (and checked to be the same
image) when they are stored, so an archive of any size is added in bounded memory.

An uploaded zip waits for its job under ``DATA_DIR/uploads/``; the job removes it however it ends,
and :func:`spooled_archives_sweep` (a periodic task) removes what a job never got to (one cancelled
before it started, a request that died while writing it).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
MAX_REPORTED_NAMES = 1000
SKIP_BROKEN_HINT = "send skip_broken=1 to add the other images and list the broken ones under 'skipped'"
T = TypeVar("T")
# Checked image bytes are kept in memory between checking and storing up to this total; beyond it
# they are read again from their source (and their hash verified) when stored.
KEEP_IMAGE_BYTES = 256 * 1024 * 1024


class KeptBytes:
    """Which checked images keep their bytes in memory until they are stored: the first ones, up
    to ``budget`` bytes in all. The others are kept without them (``data == b""``), to be read
    again with :func:`bytes_checked_again`."""

    def __init__(self, budget: int | None = None) -> None:
        self.left = KEEP_IMAGE_BYTES if budget is None else budget

    def keep(self, image: CheckedImage) -> CheckedImage:
        size = len(image.data)
        if size <= self.left:
            self.left -= size
            return image
        return replace(image, data=b"")


def bytes_checked_again(data: bytes, image: CheckedImage) -> bytes:
    """The bytes to store for ``image`` from its source read again, refused if they are no longer
    the same image. Bytes that hash to the checked image's are the very bytes checked; others
    (a JPEG the check repaired or turned upright) are checked again, and the check's bytes are
    stored."""
    if hashlib.sha256(data).hexdigest() == image.sha256:
        return data
    again = check_image_bytes(data)
    if again.sha256 != image.sha256:
        raise ImageRejected("The file changed while it was being added.")
    return again.data


@dataclass
class UploadResult:
    created: list[Image] = field(default_factory=list)
    duplicates: list[Image] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"}: left out (not images; broken ones with skip_broken)
    repaired: list[str] = field(default_factory=list)  # names of JPEGs stored with their missing EOI marker added

    def summary(self) -> dict:
        return {
            "created": len(self.created),
            "duplicates": len(self.duplicates),
            "created_ids": [i.pk for i in self.created][:MAX_REPORTED_NAMES],
            "skipped": self.skipped[:MAX_REPORTED_PROBLEMS],
            "skipped_count": len(self.skipped),
            "repaired": self.repaired[:MAX_REPORTED_NAMES],
            "repaired_count": len(self.repaired),
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
    *,
    project: Project,
    checked: list[tuple[str, CheckedImage]],
    user,
    source: str,
    meta: dict | None = None,
    reread: Callable[[str, CheckedImage], bytes] | None = None,
) -> UploadResult:
    """Store already-checked images (``(name, image)`` pairs) and create their rows, de-duplicated by content.

    Bytes the project already holds are not added again: the result lists the oldest image of
    that content among ``duplicates``; the same bytes twice in ``checked`` are one image. Every
    new image gets ``source`` and a copy of ``meta``. One upload or import at a time per project
    (:func:`project_images_lock`), so de-duplication is exact under concurrency. ``repaired`` lists
    the names of the images that were repaired when checked, duplicates or not. An image kept
    without its bytes (:class:`KeptBytes`) gets them from ``reread(name, image)`` when stored.
    """
    result = UploadResult(repaired=[name for name, image in checked if image.repaired])
    unique: dict[str, tuple[str, CheckedImage]] = {}
    for name, image in checked:
        unique.setdefault(image.sha256, (name, image))
    with project_images_lock(project=project):
        # Until commit, a removal of these files (their last image deleted elsewhere) waits for us.
        storage.files_lock(storage.image_relative_path(i.sha256, i.extension) for _, i in unique.values())
        existing: dict[str, Image] = {}
        for row in Image.objects.filter(project=project, sha256__in=list(unique)).order_by("id"):
            existing.setdefault(row.sha256, row)  # the oldest image of that content
        entries = []
        for sha, (name, image) in unique.items():
            if sha in existing:
                result.duplicates.append(existing[sha])
                continue
            data = image.data
            if not data:
                if reread is None:
                    raise ValueError(f"{name}: checked without its bytes, and there is no way to read them again")
                data = reread(name, image)
            storage.store_image(image.sha256, image.extension, data)
            entries.append(
                ImageEntry.of_checked(image, name=name, source=source, meta=dict(meta or {}), size_bytes=len(data))
            )
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
            checked.append((name, check_image_bytes(upload.read(settings.IMAGE_MAX_BYTES + 1))))
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


UPLOADS_FOLDER = "uploads"
# Every folder :func:`zip_upload_spool` writes to (export's dataset imports spool to "imports").
SPOOL_FOLDERS = (UPLOADS_FOLDER, "imports")
SPOOL_MAX_AGE_SECONDS = 24 * 3600


def images_upload_zip_start(*, project: Project, upload, user, skip_broken: bool = False) -> Job:
    """Check an uploaded zip of images and queue adding them to the project (sent on commit).

    A bad archive is refused with ``ValidationError`` and nothing is queued; the job's work is
    :func:`images_upload_zip` (``skip_broken``: add the rest when some images are broken).
    """
    path, count = zip_upload_spool(upload=upload, folder=UPLOADS_FOLDER, check=zip_check)
    with transaction.atomic():
        return job_submit(
            kind=ZIP_UPLOAD_KIND, created_by=user, project=project,
            params={"path": str(path), "name": upload.name, "files": count, "skip_broken": bool(skip_broken)},
        )


def images_upload_zip(
    *, project: Project, path: str | Path, user, ctx: JobContext, skip_broken: bool = False
) -> dict:
    """Job work: add every image in the zip to the project, or none if any image is broken.

    With ``skip_broken`` the broken ones (damaged, too large, unreadable members) are left out and
    listed under ``skipped`` with the reason, and the others are added. The archive is removed
    however the job ends (done, failed, cancelled): it is only ever read by this job.
    """
    try:
        return _images_upload_zip(project=project, path=path, user=user, ctx=ctx, skip_broken=skip_broken)
    finally:
        Path(path).unlink(missing_ok=True)


def _images_upload_zip(*, project: Project, path: str | Path, user, ctx: JobContext, skip_broken: bool) -> dict:
    try:
        archive = open_checked_zip(str(path))
    except ArchiveRejected as exc:
        raise JobError(str(exc)) from None
    checked: list[tuple[str, CheckedImage]] = []
    skipped: list[dict] = []
    broken: list[dict] = []
    kept = KeptBytes()
    with archive:
        members = file_members(archive)
        by_name = {info.filename: info for info in members}
        for index, info in enumerate(members):
            ctx.progress(0.9 * index / max(len(members), 1), f"Checking {info.filename}")
            try:
                data = read_member(archive, info, limit=settings.IMAGE_MAX_BYTES)
                checked.append((info.filename, kept.keep(check_image_bytes(data))))
            except ArchiveRejected as exc:
                broken.append({"file": info.filename, "reason": str(exc)})
            except ImageRejected as exc:
                if str(exc).startswith("The file is not an image"):
                    skipped.append({"file": info.filename, "reason": str(exc)})
                else:
                    broken.append({"file": info.filename, "reason": str(exc)})
        if broken and not skip_broken:
            listed = "; ".join(f"{b['file']}: {b['reason']}" for b in broken[:MAX_REPORTED_PROBLEMS])
            raise JobError(
                f"{len(broken)} broken image(s) in the archive, so none were added ({SKIP_BROKEN_HINT}): {listed}"
            )
        if not checked:
            raise JobError("The archive holds no images." if not broken else "Every image in the archive is broken.")

        def reread(name: str, image: CheckedImage) -> bytes:
            try:
                return bytes_checked_again(read_member(archive, by_name[name], limit=settings.IMAGE_MAX_BYTES), image)
            except (ArchiveRejected, ImageRejected) as exc:
                raise JobError(f"{name}: {exc} Nothing was added.") from None

        ctx.progress(0.9, f"Storing {len(checked)} images", force=True)
        result = images_store_checked(
            project=project, checked=checked, user=user, source=Image.Source.UPLOAD, reread=reread
        )
    result.skipped = broken + skipped
    return result.summary()


def spooled_archives_sweep(*, max_age: float = SPOOL_MAX_AGE_SECONDS) -> list[Path]:
    """Remove spooled archives older than ``max_age`` seconds that no waiting or running job reads.

    A job removes its archive when it ends, but one cancelled before a worker took it never runs,
    and a request that died while spooling leaves a partial file: up to ``ZIP_MAX_BYTES`` each,
    forever. Archives named in the params of a queued or running job are kept whatever their age
    (a busy queue may hold a job for longer). Returns the removed paths. Run by a periodic task.
    """
    active = {
        str(params.get("path"))
        for params in Job.objects.filter(status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).values_list(
            "params", flat=True
        )
        if isinstance(params, dict) and params.get("path")
    }
    cutoff = time.time() - max_age
    removed = []
    for folder in SPOOL_FOLDERS:
        root = Path(settings.DATA_DIR) / folder
        if not root.is_dir():
            continue
        for path in root.iterdir():
            try:
                if not path.is_file() or path.is_symlink() or path.stat().st_mtime > cutoff or str(path) in active:
                    continue
                path.unlink()
            except FileNotFoundError:  # removed meanwhile (its job ended)
                continue
            removed.append(path)
    return removed
