"""Thin Celery wrappers: take the job id, call a service, report progress on the Job."""

from celery import shared_task
from django.conf import settings

from jobs.models import Job
from jobs.runner import JobError, run_job

from .offline import AugmentError
from .services import corruption_build


@shared_task(name="augment.corruption_build", acks_late=True)
def corruption_build_task(job_id: int) -> None:
    """Write a corrupted copy of a project's split (profile + severity) and record the summary."""

    def work(ctx):
        job = Job.objects.select_related("project").get(pk=job_id)
        params = job.params
        try:
            return corruption_build(
                project=job.project, profile=params["profile"], severity=params["severity"], split=params["split"],
                seed=params["seed"], progress=ctx.progress,
                # Worker processes for the pixels; optional setting, one process unless configured.
                processes=getattr(settings, "AUGMENT_PROCESSES", 1),
            )
        except AugmentError as exc:
            raise JobError(str(exc)) from exc

    run_job(job_id, work)
