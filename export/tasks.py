"""Thin Celery tasks: take the job id, load, call the service, let the runner record the outcome."""

from __future__ import annotations

from celery import shared_task

from jobs.runner import JobContext, run_job

from .models import Export


@shared_task(name="export.export", acks_late=True)
def export_task(job_id: int) -> None:
    """Write a (large) export to its cache file."""
    from .services import export_run

    def work(ctx: JobContext) -> dict:
        export = Export.objects.select_related("version__project", "job").get(job_id=job_id)
        return export_run(export=export, ctx=ctx)

    run_job(job_id, work)
