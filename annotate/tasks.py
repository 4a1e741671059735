"""Job kinds of the annotate app (thin: load, call the service; the runner records the outcome)."""

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .uploads import ZIP_UPLOAD_KIND, images_upload_zip


@job_task(ZIP_UPLOAD_KIND)
def upload_zip(job: Job, ctx: JobContext) -> dict:
    """Add the images of an uploaded zip to the job's project."""
    return images_upload_zip(project=job.project, path=job.params["path"], user=job.created_by, ctx=ctx)
