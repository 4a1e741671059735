"""Job kinds of the augment app (thin: load, call the service; the runner records the outcome)."""

from django.conf import settings

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext, JobError

from .offline import AugmentError
from .services import CORRUPTION_KIND, corruption_build


@job_task(CORRUPTION_KIND)
def corruption_build_task(job: Job, ctx: JobContext) -> dict:
    """Write a corrupted copy of a project's split (profile + severity) and record the summary."""
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
