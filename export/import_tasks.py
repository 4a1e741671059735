"""The job kind that runs a dataset import: thin, it hands the loaded job to the service."""

from __future__ import annotations

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .dataset_import import IMPORT_JOB_KIND, dataset_import_job_run


@job_task(IMPORT_JOB_KIND)
def import_dataset(job: Job, ctx: JobContext) -> dict:
    """Import the dataset the job describes into its project, all or nothing."""
    return dataset_import_job_run(job=job, ctx=ctx)
