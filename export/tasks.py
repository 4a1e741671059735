"""Job kinds of the export app (thin: load, call the service; the runner records the outcome)."""

from __future__ import annotations

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .models import Export


@job_task("export.export")
def export_task(job: Job, ctx: JobContext) -> dict:
    """Write a (large) export to its cache file."""
    from .services import export_run

    export = Export.objects.select_related("version__project", "job").get(job_id=job.pk)
    return export_run(export=export, ctx=ctx)
