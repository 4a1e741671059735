"""Reads of synth data, always through the project's membership check (404 / 403, one query:
:func:`annotate.access.access_by_id`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from annotate.access import access_by_id
from annotate.models import LabelClass
from annotate.permissions import Can

from .models import Asset, SynthJob


def assets_of(*, project, kind: str | None = None) -> QuerySet[Asset]:
    assets = Asset.objects.filter(project=project).select_related("label", "created_by")
    if kind:
        assets = assets.filter(kind=kind)
    return assets.order_by("id")


def access_asset_by_id(*, user, asset_id: int, can: Can = Can.VIEW) -> Asset:
    """The asset, ``asset.user_role`` set, in one query; 404 if invisible, 403 if not allowed."""
    assets = Asset.objects.select_related("created_by")
    return access_by_id(assets, user=user, pk=asset_id, can=can, not_found="No such asset.")


def asset_label(*, project, label_id: int | None) -> LabelClass | None:
    """The label an uploaded asset is for (None for none); one of another project is a 400."""
    if label_id is None:
        return None
    label = LabelClass.objects.filter(project=project, pk=label_id).first()
    if label is None:
        raise ValidationError({"label": "Not a label of this project."})
    return label


def synth_jobs_of(*, project) -> QuerySet[SynthJob]:
    return SynthJob.objects.filter(project=project).select_related("job", "created_by").order_by("-created_at", "-id")


def access_synth_job_by_id(*, user, synth_job_id: int, can: Can = Can.VIEW) -> SynthJob:
    """The synth job with its job and project, ``user_role`` set, in one query; 404 / 403."""
    synth_jobs = SynthJob.objects.select_related("job__created_by", "project", "created_by")
    return access_by_id(synth_jobs, user=user, pk=synth_job_id, can=can, not_found="No such synth job.")
