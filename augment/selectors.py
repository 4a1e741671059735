"""Reads of the augment app, scoped like every lookup: a user who may not see the project gets
404, one whose role does not allow the action 403 (through :mod:`annotate.access`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import Http404

from annotate.access import access_by_id
from annotate.models import Annotation, Image, LabelClass, Project
from annotate.permissions import Can
from jobs.models import Job

from .models import Recipe
from .pipeline import LabelInfo


def recipes_of(*, project: Project) -> QuerySet[Recipe]:
    return Recipe.objects.filter(project=project).select_related("created_by").order_by("id")


def access_recipe_by_id(*, user, recipe_id: int, can: Can = Can.VIEW) -> Recipe:
    """The recipe with its project (both with ``user_role``), in one query; 404 if it does not
    exist or its project is invisible, 403 if not allowed."""
    recipes = Recipe.objects.select_related("project", "created_by")
    return access_by_id(recipes, user=user, pk=recipe_id, can=can, not_found="No such recipe.")


def label_keypoints_by_name(*, project: Project) -> dict[str, list[str]]:
    """Label name -> keypoint names, to check a recipe's ``flip_pairs`` against the project."""
    return {name: list(kps or []) for name, kps in LabelClass.objects.filter(project=project).values_list(
        "name", "keypoint_names")}


def engine_annotations(*, images: Iterable[Image]) -> tuple[dict[int, list[dict]], dict[int, LabelInfo]]:
    """Annotations of ``images`` as the augmentation engine takes them, and their labels.

    Two queries whatever the number of images. Returns ``({image id: [annotation dicts]},
    {label id: LabelInfo})``.
    """
    images = list(images)
    by_image: dict[int, list[dict]] = {image.pk: [] for image in images}
    label_ids: set[int] = set()
    rows = Annotation.objects.filter(image_id__in=by_image).order_by("image_id", "id").values(
        "id", "image_id", "label_id", "kind", "geometry", "attributes", "group"
    )
    for row in rows:
        label_ids.add(row["label_id"])
        annotation = {
            "id": row["id"], "label": row["label_id"], "kind": row["kind"], "geometry": row["geometry"],
            "attributes": row["attributes"],
        }
        if row["group"] is not None:  # an object's parts travel together (see annotate.geometry)
            annotation["group"] = row["group"]
        by_image[row["image_id"]].append(annotation)
    labels = {
        pk: LabelInfo(name=name, keypoint_names=tuple(kps or ()))
        for pk, name, kps in LabelClass.objects.filter(pk__in=label_ids).values_list("id", "name", "keypoint_names")
    }
    return by_image, labels


def engine_items(*, images: Iterable[Image]) -> tuple[list[dict], dict[int, LabelInfo]]:
    """``items`` and ``labels`` for :func:`augment.offline.augment_items` from Image rows.

    The version build calls it with the version's train images.
    """
    from annotate import storage

    images = list(images)
    annotations, labels = engine_annotations(images=images)
    items = [
        {"key": image.pk, "path": str(storage.media_path(image.file)), "split": image.split,
         "annotations": annotations[image.pk]}
        for image in images
    ]
    return items, labels


def image_in_project(*, project: Project, image_id) -> Image:
    image = Image.objects.filter(project=project, pk=image_id).first() if isinstance(image_id, int) else None
    if image is None:
        raise Http404("No such image in this project.")
    return image


def corruption_job_in_progress(*, project: Project, params: dict) -> Job | None:
    """A queued or running corruption job of the project with exactly these parameters."""
    candidates = Job.objects.filter(
        project=project, kind="augment.corruption", status__in=[Job.Status.QUEUED, Job.Status.RUNNING]
    )
    return next((job for job in candidates if job.params == params), None)
