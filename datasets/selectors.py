"""Reads of dataset versions, scoped by project membership through :mod:`annotate.access`.

A user who is not a member of a version's project gets 404 for it (we do not confirm it exists);
one whose role lacks the capability gets 403.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from annotate.access import access_by_id
from annotate.permissions import Can

from .models import DatasetVersion, VersionImage


def access_version_by_id(*, user, version_id: int, can: Can = Can.VIEW) -> DatasetVersion:
    """The version (with project and job), ``version.user_role`` set, in one query; 404 / 403 as for projects."""
    versions = DatasetVersion.objects.select_related("project", "job__created_by", "created_by")
    return access_by_id(versions, user=user, pk=version_id, can=can)


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
