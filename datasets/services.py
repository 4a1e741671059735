"""Writes of dataset versions: create (queued as a job), build, delete.

Services take keyword-only arguments and raise Django's ``ValidationError`` for the caller's
mistakes (the API turns it into a 400); job work raises :class:`~jobs.runner.JobError` for
problems found while running, which fail the job with that message.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import SPLITS, Annotation, Image, Project
from annotate.splits import split_ratios_check
from jobs.public_text import without_server_paths
from jobs.runner import JobContext
from jobs.services import job_submit

from .build import run_pipeline, selected_images
from .models import DatasetVersion, VersionImage
from .pipeline import BuildContext, step_params_clean

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
    split_ratios_check(*(split[name] for name in SPLITS), field="split")
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
    cleaned = step_params_clean(project=project, params=version_params_clean(dict(params or {})))
    if not selected_images(project=project, params=cleaned).exists():
        raise ValidationError({"detail": "No images match this selection (sources, annotated only); nothing to build."})
    for _attempt in range(3):
        try:
            with transaction.atomic():
                number = (project.versions.aggregate(n=Max("number"))["n"] or 0) + 1
                # Sent on commit, once the version it builds is there for the worker.
                job = job_submit(kind="export.version_build", created_by=created_by, project=project,
                                 params={"number": number})
                version = DatasetVersion.objects.create(
                    project=project, number=number, name=name, params=cleaned, labels=_frozen_labels(project),
                    created_by=created_by, job=job,
                )
                job.params = {"version": version.pk, "number": number}
                job.save(update_fields=["params"])
            return version
        except IntegrityError:  # two builds raced for the same number; take the next one
            continue
    raise ValidationError({"detail": "Could not number the new version; try again."})


def version_build(*, version: DatasetVersion, ctx: JobContext | None = None) -> dict:
    """Job work: run the build pipeline, then mark the version ready (or failed, rows removed)."""
    # The stored status, not the caller's copy: a redelivered or repeated build of a version that
    # is already built must leave its rows alone.
    status = DatasetVersion.objects.filter(pk=version.pk).values_list("status", flat=True).first()
    if status != DatasetVersion.Status.BUILDING:
        return {"version": version.pk, "status": status}
    VersionImage.objects.filter(version=version).delete()  # a redelivered build starts clean
    build = BuildContext(version=version, params=version.params, job=ctx)
    try:
        result = run_pipeline(build)
    except BaseException as exc:
        VersionImage.objects.filter(version=version).delete()
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=DatasetVersion.Status.FAILED, error=without_server_paths(str(exc) or type(exc).__name__)[:2000]
        )
        raise
    DatasetVersion.objects.filter(pk=version.pk, status=DatasetVersion.Status.BUILDING).update(
        status=DatasetVersion.Status.READY, built_at=timezone.now(), **result
    )
    version.refresh_from_db()
    return {"version": version.pk, "number": version.number, "images": version.image_count,
            "annotations": version.annotation_count, "content_hash": version.content_hash}


def version_delete(*, version: DatasetVersion) -> None:
    """Delete a version that is not building. Its image files are kept (shared); what was made from
    it (cached exports) goes with it, through those apps' own delete handlers."""
    if version.status == DatasetVersion.Status.BUILDING:
        raise ValidationError({"detail": "The version is still building; cancel its job first."})
    with transaction.atomic():
        DatasetVersion.objects.filter(pk=version.pk).delete()
