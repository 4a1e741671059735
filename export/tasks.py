"""Thin Celery tasks: take the job id, load, call the service, let the runner record the outcome."""

from __future__ import annotations

from celery import shared_task

from jobs.models import Job
from jobs.runner import JobContext, run_job

from .models import DatasetVersion, Export


@shared_task(name="export.version_build", acks_late=True)
def version_build_task(job_id: int) -> None:
    """Build the dataset version that the job names."""
    from .services import version_build

    def work(ctx: JobContext) -> dict:
        job = Job.objects.get(pk=job_id)
        version = DatasetVersion.objects.select_related("project").get(pk=job.params["version"])
        return version_build(version=version, ctx=ctx)

    run_job(job_id, work)


@shared_task(name="export.export", acks_late=True)
def export_task(job_id: int) -> None:
    """Write a (large) export to its cache file."""
    from .services import export_run

    def work(ctx: JobContext) -> dict:
        export = Export.objects.select_related("version__project", "job").get(job_id=job_id)
        return export_run(export=export, ctx=ctx)

    run_job(job_id, work)
