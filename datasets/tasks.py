"""Thin Celery task: take the job id, load the version, call the build service."""

from __future__ import annotations

from celery import shared_task

from jobs.models import Job
from jobs.runner import JobContext, run_job

from .models import DatasetVersion


@shared_task(name="export.version_build", acks_late=True)
def version_build_task(job_id: int) -> None:
    """Build the dataset version that the job names."""
    from .services import version_build

    def work(ctx: JobContext) -> dict:
        job = Job.objects.get(pk=job_id)
        version = DatasetVersion.objects.select_related("project").get(pk=job.params["version"])
        return version_build(version=version, ctx=ctx)

    run_job(job_id, work)
