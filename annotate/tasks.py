from celery import shared_task

from jobs.models import Job
from jobs.runner import run_job

from .uploads import images_upload_zip


@shared_task(name="annotate.upload_zip", acks_late=True)
def upload_zip(job_id: int) -> None:
    """Add the images of an uploaded zip to the job's project."""

    def work(ctx):
        job = Job.objects.select_related("project", "created_by").get(pk=job_id)
        return images_upload_zip(project=job.project, path=job.params["path"], user=job.created_by, ctx=ctx)

    run_job(job_id, work)
