"""Job kinds of the datasets app (thin: load the version, call the build service)."""

from __future__ import annotations

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .models import DatasetVersion


@job_task("export.version_build")
def version_build_task(job: Job, ctx: JobContext) -> dict:
    """Build the dataset version that the job names."""
    from .services import version_build

    version = DatasetVersion.objects.select_related("project").get(pk=job.params["version"])
    return version_build(version=version, ctx=ctx)
