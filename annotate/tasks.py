"""Job kinds of the annotate app (thin: load, call the service; the runner records the outcome),
and its periodic tasks (scheduled in ``CELERY_BEAT_SCHEDULE``)."""

from celery import shared_task

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .uploads import ZIP_UPLOAD_KIND, images_upload_zip, spooled_archives_sweep


@job_task(ZIP_UPLOAD_KIND)
def upload_zip(job: Job, ctx: JobContext) -> dict:
    """Add the images of an uploaded zip to the job's project."""
    return images_upload_zip(
        project=job.project, path=job.params["path"], user=job.created_by, ctx=ctx,
        skip_broken=bool(job.params.get("skip_broken", False)),
    )


@shared_task(name="annotate.sweep_spooled_archives")
def sweep_spooled_archives() -> int:
    """Remove uploaded archives older than a day that no job will read (see the service)."""
    return len(spooled_archives_sweep())
