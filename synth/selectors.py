"""Reads of synth data, always through the project's membership check (404 / 403)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from annotate.permissions import Can
from annotate.selectors import project_get_for_user, project_role

from .models import Asset, SynthJob


def assets_of(*, project, kind: str | None = None) -> QuerySet[Asset]:
    assets = Asset.objects.filter(project=project).select_related("label", "created_by")
    if kind:
        assets = assets.filter(kind=kind)
    return assets.order_by("id")


def asset_get_for_user(*, user, asset_id: int, can: Can = Can.VIEW) -> Asset:
    asset = Asset.objects.filter(pk=asset_id).first()
    if asset is None or project_role(user=user, project_id=asset.project_id) is None:
        raise Http404("No such asset.")
    project_get_for_user(user=user, project_id=asset.project_id, can=can)
    return asset


def synth_jobs_of(*, project) -> QuerySet[SynthJob]:
    return SynthJob.objects.filter(project=project).select_related("job", "created_by").order_by("-created_at", "-id")


def synth_job_get_for_user(*, user, synth_job_id: int, can: Can = Can.VIEW) -> SynthJob:
    synth_job = SynthJob.objects.select_related("job", "project", "created_by").filter(pk=synth_job_id).first()
    if synth_job is None or project_role(user=user, project_id=synth_job.project_id) is None:
        raise Http404("No such synth job.")
    project_get_for_user(user=user, project_id=synth_job.project_id, can=can)
    return synth_job
