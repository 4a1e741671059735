"""Reads of jobs, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import F, FilteredRelation, Q, QuerySet
from django.http import Http404

from .models import Job

OWNER_ROLE = "owner"


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Jobs the user started, and jobs of projects the user is a member of."""
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(Q(created_by=user) | Q(project__memberships__user=user)).distinct()


def access_job_by_id(*, user, job_id: int) -> Job:
    """The job if the user may see it (as :func:`jobs_visible_to`), in one query; 404 otherwise.

    ``job.user_role`` is the user's role in the job's project (None if not a member), so
    :func:`job_can_cancel` needs no query. The membership is reached through the project's
    relation, by name: this app imports nothing from the apps that use it.
    """
    if not user.is_authenticated:
        raise Http404("No such job.")
    jobs = Job.objects.select_related("created_by")
    if user.is_superuser:
        job = jobs.filter(pk=job_id).first()
    else:
        membership = FilteredRelation("project__memberships", condition=Q(project__memberships__user=user))
        job = (
            jobs.annotate(membership=membership, user_role=F("membership__role"))
            .filter(Q(created_by=user) | Q(membership__isnull=False), pk=job_id)
            .first()
        )
    if job is None:
        raise Http404("No such job.")
    return job


def job_can_cancel(*, user, job: Job) -> bool:
    """Whoever started it, a project owner, or a superuser."""
    if user.is_superuser or job.created_by_id == user.pk:
        return True
    if not job.project_id:
        return False
    if hasattr(job, "user_role"):  # looked up by access_job_by_id
        return job.user_role == OWNER_ROLE
    return job.project.memberships.filter(user=user, role=OWNER_ROLE).exists()
