"""Writes to jobs: create and enqueue, report progress, finish, cancel, sweep dead ones."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Job

LOG_TAIL_CHARS = 20_000


def job_create(*, kind: str, created_by=None, project=None, params: dict | None = None) -> Job:
    return Job.objects.create(kind=kind, created_by=created_by, project=project, params=params or {})


def job_enqueue(*, job: Job, task, queue: str | None = None) -> Job:
    """Send ``task(job.id)`` to the broker once the surrounding transaction commits.

    Sending on commit means a worker never picks up a job whose rows it cannot see yet.
    """
    task_id = str(uuid.uuid4())
    Job.objects.filter(pk=job.pk).update(celery_task_id=task_id)
    job.celery_task_id = task_id
    options: dict[str, Any] = {"task_id": task_id}
    if queue:
        options["queue"] = queue
    transaction.on_commit(lambda: task.apply_async(args=[job.pk], **options))
    return job


def job_start(*, job: Job, worker: str = "") -> bool:
    """Mark a queued job running. False when it must not run (cancelled or already finished).

    A job already "running" is accepted too: that is a redelivery after its worker died
    (tasks are acknowledged late), and the work starts again.
    """
    now = timezone.now()
    updated = Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200], progress=0.0, error=""
    )
    job.refresh_from_db()
    return bool(updated)


def job_report(*, job: Job, progress: float | None = None, message: str | None = None) -> bool:
    """Record progress (and a heartbeat). Returns whether cancellation was requested."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = min(max(float(progress), 0.0), 1.0)
    if message is not None:
        fields["message"] = message[:500]
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**fields)
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_log(*, job: Job, line: str) -> None:
    current = Job.objects.filter(pk=job.pk).values_list("log", flat=True).first() or ""
    text = (current + line.rstrip("\n") + "\n")[-LOG_TAIL_CHARS:]
    Job.objects.filter(pk=job.pk).update(log=text)


def job_heartbeat(*, job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())


def _finish(job: Job, status: str, **fields: Any) -> None:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=status, finished_at=timezone.now(), **fields
    )
    job.refresh_from_db()


def job_succeed(*, job: Job, result: Any = None, message: str = "Done") -> None:
    _finish(job, Job.Status.SUCCEEDED, result=result, progress=1.0, message=message[:500])


def job_fail(*, job: Job, error: str) -> None:
    _finish(job, Job.Status.FAILED, error=error, message="Failed")


def job_mark_cancelled(*, job: Job, message: str = "Cancelled") -> None:
    _finish(job, Job.Status.CANCELLED, message=message)


class JobAlreadyFinished(Exception):
    """Cancelling a job that has already ended."""


# Job kinds whose cancel is more than flipping the job's own row (a job made of other jobs), set
# by the app that owns the kind (in its AppConfig.ready): kind -> handler(job) -> job.
_CANCEL_HANDLERS: dict[str, Callable[[Job], Job]] = {}


def register_cancel_handler(kind: str, handler: Callable[[Job], Job]) -> None:
    """Route cancels of jobs of ``kind`` to ``handler`` (which raises JobAlreadyFinished too)."""
    _CANCEL_HANDLERS[kind] = handler


def job_cancel(*, job: Job) -> Job:
    """Cancel a job: a queued one at once, a running one at its next progress report (or as the
    handler registered for its kind decides)."""
    handler = _CANCEL_HANDLERS.get(job.kind)
    if handler is not None:
        return handler(job)
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_terminal:
            raise JobAlreadyFinished(f"The job has already {job.status}.")
        if job.status == Job.Status.QUEUED:
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
            job.message = "Cancelled before it started"
        job.cancel_requested = True
        job.save(update_fields=["status", "finished_at", "message", "cancel_requested"])
    if job.status == Job.Status.CANCELLED and job.celery_task_id:
        from config.celery import app

        app.control.revoke(job.celery_task_id)
    return job


def jobs_sweep_stale(*, stale_after: int | None = None) -> int:
    """Mark failed every running job whose heartbeat stopped: its worker died or was killed.

    Returns how many jobs were marked. Run periodically by the worker's beat and at worker start.
    """
    seconds = settings.JOB_STALE_AFTER if stale_after is None else stale_after
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
    count = 0
    for job in stale:
        last = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
        count += Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message="Failed",
            error=(
                f"The worker running this job stopped responding (last heartbeat {last}, "
                f"{job.worker or 'unknown worker'}); the job was marked failed. Start it again."
            ),
            progress=F("progress"),
        )
    return count
