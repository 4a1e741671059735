from celery import shared_task
from celery.signals import worker_ready

from . import services


@shared_task(name="jobs.sweep_stale")
def sweep_stale() -> int:
    """Mark failed the running jobs whose worker died (no heartbeat for JOB_STALE_AFTER)."""
    return services.jobs_sweep_stale()


@worker_ready.connect
def _sweep_on_start(**_: object) -> None:
    services.jobs_sweep_stale()
