"""The Celery task that runs a dataset import: thin, it loads the job and calls the service."""

from __future__ import annotations

from celery import shared_task

from jobs.models import Job
from jobs.runner import JobContext, run_job

from .dataset_import import dataset_import_job_run


@shared_task(name="export.import_dataset", acks_late=True)
def import_dataset(job_id: int) -> None:
    """Import the dataset the job describes into its project, all or nothing."""

    def work(ctx: JobContext) -> dict:
        job = Job.objects.select_related("project", "created_by").get(pk=job_id)
        return dataset_import_job_run(job=job, ctx=ctx)

    run_job(job_id, work)
