"""Reads of jobs, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import F, FilteredRelation, Q, QuerySet
from django.http import Http404

from .models import Job

OWNER_ROLE = "owner"


def _visible(user_is_member: Q, user) -> Q:
    """A project's job is its current members' (someone removed from the project loses the jobs
    they started there with the rest of it); a job of no project is whoever started it."""
    return Q(project__isnull=True, created_by=user) | user_is_member


def jobs_visible_to(*, user) -> QuerySet[Job]:
    """Jobs of projects the user is a member of, and the jobs of no project the user started."""
    if user.is_superuser:
        return Job.objects.all()
    return Job.objects.filter(_visible(Q(project__memberships__user=user), user)).distinct()


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
            .filter(_visible(Q(membership__isnull=False), user), pk=job_id)
            .first()
        )
    if job is None:
        raise Http404("No such job.")
    return job


def job_can_cancel(*, user, job: Job) -> bool:
    """A superuser; a project owner; whoever started it, while still a member of its project."""
    if user.is_superuser:
        return True
    if not job.project_id:
        return job.created_by_id == user.pk
    if hasattr(job, "user_role"):  # looked up by access_job_by_id
        role = job.user_role
    else:
        role = job.project.memberships.filter(user=user).values_list("role", flat=True).first()
    return role == OWNER_ROLE or (role is not None and job.created_by_id == user.pk)
