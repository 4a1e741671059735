"""Reads of dataset versions, scoped by project membership like :mod:`annotate.selectors`.

A user who is not a member of a version's project gets 404 for it (we do not confirm it exists);
one whose role lacks the capability gets 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from annotate.permissions import Can
from annotate.selectors import _check, project_role

from .models import DatasetVersion, VersionImage


def version_get_for_user(*, user, version_id: int, can: Can = Can.VIEW) -> DatasetVersion:
    """The version (with project and job), ``version.user_role`` set; 404 / 403 as for projects."""
    version = DatasetVersion.objects.select_related("project", "job__created_by", "created_by").filter(pk=version_id).first()
    role = project_role(user=user, project_id=version.project_id) if version else None
    _check(role, can)
    version.user_role = role
    return version


def versions_of(*, project) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(project=project).select_related("job__created_by", "created_by").order_by("-number")


def version_images(*, version: DatasetVersion, split: str | None = None) -> QuerySet[VersionImage]:
    images = VersionImage.objects.filter(version=version).order_by("index")
    if split:
        images = images.filter(split=split)
    return images


def version_by_number(*, project, number: int) -> DatasetVersion:
    version = DatasetVersion.objects.filter(project=project, number=number).first()
    if version is None:
        raise Http404("No such version in this project.")
    return version
