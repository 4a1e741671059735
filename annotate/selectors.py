"""Reads, always scoped to what the user may see.

Lookups by id with the permission check are in :mod:`annotate.access` (``access_*_by_id``: 404 if
the user may not see the project, 403 if the role lacks the capability); the reads here take the
project (or image) those return.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.http import Http404

from .models import Annotation, Image, LabelClass, Membership, Project, Role, Split


def projects_visible_to(*, user) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def project_by_id_or_name(ref: str) -> Project:
    """For command-line tools (no user scope): a project by id, or by its exact, unique name.

    Raises ``LookupError`` with a sentence for the operator when none or several match.
    """
    project = Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    if project is None:
        matches = list(Project.objects.filter(name=ref)[:2])
        if len(matches) > 1:
            raise LookupError(f"Several projects are called {ref!r}; give its id.")
        project = matches[0] if matches else None
    if project is None:
        raise LookupError(f"No project {ref!r} (by id or name).")
    return project


def label_get_in_project(*, project: Project, label_id: int) -> LabelClass:
    label = LabelClass.objects.filter(project=project, pk=label_id).first()
    if label is None:
        raise Http404("No such label in this project.")
    return label


def project_list_with_counts(*, user) -> QuerySet[Project]:
    """The user's projects, newest first, each with ``image_count`` and the user's ``user_role``."""
    if user.is_superuser:
        role = Value(Role.OWNER)
    else:
        role = Subquery(Membership.objects.filter(project_id=OuterRef("pk"), user_id=user.pk).values("role")[:1])
    return (
        projects_visible_to(user=user)
        .annotate(image_count=Count("images", distinct=True), user_role=role)
        .order_by("-created_at")
    )


def memberships_of(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def membership_get_in_project(*, project: Project, username: str) -> Membership:
    membership = memberships_of(project=project).filter(user__username=username).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


def images_of_project(
    *,
    project: Project,
    split: str | None = None,
    status: str | None = None,
    label: int | None = None,
    source: str | None = None,
    rejected: bool | None = None,
) -> QuerySet[Image]:
    """Images of a project, filtered, with their annotation count: one query per page.

    ``rejected=True`` keeps the images a reviewer sent back (and nobody accepted since)."""
    images = Image.objects.filter(project=project)
    if rejected is not None:
        images = images.filter(meta__rejected=True) if rejected else images.exclude(meta__rejected=True)
    if split:
        images = images.filter(split=split)
    if status:
        images = images.filter(status=status)
    if source:
        images = images.filter(source=source)
    if label:
        images = images.filter(pk__in=Annotation.objects.filter(label_id=label).values("image_id"))
    return images.annotate(annotation_count=Count("annotations")).order_by("id")


@dataclass(frozen=True)
class ImagePosition:
    """Where an image stands among filtered images (by id, like the grid): 1-based ``index``."""

    previous_id: int | None
    next_id: int | None
    index: int
    total: int


def image_position(*, images: QuerySet[Image], image: Image) -> ImagePosition:
    """The image's neighbours and place among ``images``, for the labeling page's previous/next."""
    ids = images.values_list("id", flat=True)
    return ImagePosition(
        previous_id=ids.filter(id__lt=image.pk).order_by("-id").first(),
        next_id=ids.filter(id__gt=image.pk).order_by("id").first(),
        index=ids.filter(id__lt=image.pk).count() + 1,
        total=ids.count(),
    )


def annotations_of_image(*, image: Image) -> QuerySet[Annotation]:
    return Annotation.objects.filter(image=image).order_by("id")


ANNOTATION_FIELDS = ("id", "label_id", "kind", "geometry", "attributes", "source", "score", "group", "created_at", "updated_at")


def annotation_dicts_of_image(*, image: Image) -> list[dict]:
    """The image's annotations as plain dicts in the API's shape.

    Read with ``values()`` instead of model instances and a DRF serializer: the labeling page
    loads thousands of shapes per image and saves often, and this is several times faster.
    """
    rows = Annotation.objects.filter(image=image).order_by("id").values(*ANNOTATION_FIELDS)
    return [{"label": row.pop("label_id"), **row} for row in rows]


def labels_of(*, project: Project) -> QuerySet[LabelClass]:
    return project.labels.order_by("id")


def labels_with_counts(*, project: Project) -> QuerySet[LabelClass]:
    """The project's labels, each with ``annotation_count`` (what deleting it would remove)."""
    return labels_of(project=project).annotate(annotation_count=Count("annotations"))


def images_with_annotations(*, project: Project) -> QuerySet[Image]:
    """For reports that look at everything: each image with its annotations, in two queries."""
    return Image.objects.filter(project=project).prefetch_related(
        Prefetch("annotations", queryset=Annotation.objects.select_related("label").order_by("id"))
    )


def split_counts(*, project: Project) -> dict[str, int]:
    counts = {split: 0 for split in Split.values}
    for row in Image.objects.filter(project=project).values("split").annotate(n=Count("id")).order_by():
        counts[row["split"]] = row["n"]
    return counts
