"""The one access check: look an object up by id and check the user's role in its project, in one query.

Every project-scoped lookup in the API and the pages goes through an ``access_*_by_id`` helper
(Zulip's pattern): a user who may not see the project gets 404 for all of it (we do not confirm
that it exists); one who may see it but whose role lacks the capability gets 403. The helper sets
``obj.user_role`` (and ``obj.project.user_role`` when the project was loaded with it).

Other apps build their own ``access_<thing>_by_id`` on :func:`access_by_id` with a queryset of
their model (``select_related`` what their views need), so each lookup stays one query.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from .models import Image, Membership, Project, Role
from .permissions import Can, role_allows

DENIED_MESSAGES = {
    Can.ANNOTATE: "Your role in this project does not allow changing annotations.",
    Can.UPLOAD: "Your role in this project does not allow adding images.",
    Can.REVIEW: "Only reviewers and owners may review images.",
    Can.MANAGE: "Only project owners may do this.",
}


def access_by_id(
    queryset: QuerySet,
    *,
    user,
    pk,
    can: Can = Can.VIEW,
    project_field: str = "project_id",
    not_found: str = "No such project.",
) -> Any:
    """The row ``pk`` of ``queryset`` with ``user_role`` set, in one query; 404 / 403 otherwise.

    ``project_field`` names the row's project id (``"pk"`` for projects themselves). The user's
    role is annotated with a subquery on the membership, so lookup and check are one query.
    Raises ``Http404(not_found)`` when the row does not exist or the user is not a member of its
    project, and ``PermissionDenied`` (with the capability's sentence) when the role lacks ``can``.
    """
    if not user.is_authenticated:
        raise Http404(not_found)
    role_of_user = Membership.objects.filter(project_id=OuterRef(project_field), user_id=user.pk).values("role")[:1]
    obj = queryset.annotate(user_role=Subquery(role_of_user)).filter(pk=pk).first()
    if obj is None:
        raise Http404(not_found)
    if user.is_superuser:
        obj.user_role = Role.OWNER
    if obj.user_role is None:
        raise Http404(not_found)
    if not role_allows(obj.user_role, can):
        raise PermissionDenied(DENIED_MESSAGES.get(can, "Not allowed."))
    project_relation: Any = getattr(type(obj), "project", None)
    if project_field != "pk" and hasattr(project_relation, "is_cached") and project_relation.is_cached(obj):
        obj.project.user_role = obj.user_role
    return obj


def access_project_by_id(*, user, project_id: int, can: Can = Can.VIEW) -> Project:
    """The project, ``project.user_role`` set; 404 if invisible, 403 if not allowed."""
    return access_by_id(Project.objects.all(), user=user, pk=project_id, can=can, project_field="pk")


def access_image_by_id(*, user, image_id: int, can: Can = Can.VIEW) -> Image:
    """The image with its project, ``image.user_role`` set; 404 / 403 as for projects."""
    return access_by_id(Image.objects.select_related("project"), user=user, pk=image_id, can=can)
