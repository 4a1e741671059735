"""Reads, always scoped to what the user may see.

Every project-scoped lookup in the API and the pages goes through ``*_get_for_user``: a user who
may not see a project gets 404 for all of it (we do not confirm it exists); one who may see it
but lacks the capability gets 403.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from .models import Annotation, Image, LabelClass, Membership, Project, Role, Split
from .permissions import Can, role_allows

DENIED_MESSAGES = {
    Can.ANNOTATE: "Your role in this project does not allow changing annotations.",
    Can.UPLOAD: "Your role in this project does not allow adding images.",
    Can.REVIEW: "Only reviewers and owners may review images.",
    Can.MANAGE: "Only project owners may do this.",
}


def project_role(*, user, project_id: int) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.OWNER
    return Membership.objects.filter(project_id=project_id, user=user).values_list("role", flat=True).first()


def _check(role: str | None, capability: Can) -> None:
    if role is None:
        raise Http404("No such project.")
    if not role_allows(role, capability):
        raise PermissionDenied(DENIED_MESSAGES.get(capability, "Not allowed."))


def projects_visible_to(*, user) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def _with_role(queryset: QuerySet, *, user, project_field: str) -> QuerySet:
    """Annotate each row with the user's role in its project, so lookup and check are one query."""
    role = Membership.objects.filter(project_id=OuterRef(project_field), user_id=user.pk).values("role")[:1]
    return queryset.annotate(member_role=Subquery(role))


def _role_of(user, row) -> str | None:
    if row is None or not user.is_authenticated:
        return None
    return Role.OWNER if user.is_superuser else row.member_role


def project_get_for_user(*, user, project_id: int, can: Can = Can.VIEW) -> Project:
    """The project, with ``project.user_role`` set; 404 if invisible, 403 if not allowed."""
    project = _with_role(Project.objects.all(), user=user, project_field="pk").filter(pk=project_id).first()
    role = _role_of(user, project)
    _check(role, can)
    project.user_role = role
    return project


def image_get_for_user(*, user, image_id: int, can: Can = Can.VIEW) -> Image:
    """The image (with its project), ``image.user_role`` set; 404 / 403 as for projects."""
    images = _with_role(Image.objects.select_related("project"), user=user, project_field="project_id")
    image = images.filter(pk=image_id).first()
    role = _role_of(user, image)
    _check(role, can)
    image.user_role = role
    return image


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
    return projects_visible_to(user=user).annotate(image_count=Count("images", distinct=True)).order_by("-created_at")


def memberships_of(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


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


def annotations_of_image(*, image: Image) -> QuerySet[Annotation]:
    return Annotation.objects.filter(image=image).order_by("id")


ANNOTATION_FIELDS = ("id", "label_id", "kind", "geometry", "attributes", "source", "score", "created_at", "updated_at")


def annotation_dicts_of_image(*, image: Image) -> list[dict]:
    """The image's annotations as plain dicts in the API's shape.

    Read with ``values()`` instead of model instances and a DRF serializer: the labeling page
    loads thousands of shapes per image and saves often, and this is several times faster.
    """
    rows = Annotation.objects.filter(image=image).order_by("id").values(*ANNOTATION_FIELDS)
    return [{"label": row.pop("label_id"), **row} for row in rows]


def labels_of(*, project: Project) -> QuerySet[LabelClass]:
    return project.labels.order_by("id")


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
