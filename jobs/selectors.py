"""Reads of jobs, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Job

OWNER_ROLE = "owner"


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Jobs the user started, and jobs of projects the user is a member of."""
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(Q(created_by=user) | Q(project__memberships__user=user)).distinct()


def job_get_for_user(*, user, job_id: int) -> Job:
    job = jobs_visible_to(user=user).filter(pk=job_id).select_related("created_by").first()
    if job is None:
        raise Http404("No such job.")
    return job


def job_can_cancel(*, user, job: Job) -> bool:
    """Whoever started it, a project owner, or a superuser."""
    if user.is_superuser or job.created_by_id == user.pk:
        return True
    return bool(job.project_id) and job.project.memberships.filter(user=user, role=OWNER_ROLE).exists()
