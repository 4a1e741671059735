"""Writes to jobs: create and enqueue, report progress, finish, retry, cancel, sweep dead ones,
and keep a group's parent in line with its children.

Only this module writes a job's status and result; other apps call these services (and the
runner, :mod:`jobs.runner`, which calls them for the work it runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Job
from .public_text import without_server_paths

LOG_TAIL_CHARS = 20_000


def job_create(
    *, kind: str, created_by=None, project=None, params: dict | None = None, parent: Job | None = None,
    weight: float = 1.0,
) -> Job:
    """A queued job, not sent to a worker (see :func:`job_submit`); parents of groups are made so."""
    return Job.objects.create(
        kind=kind, created_by=created_by, project=project, params=params or {}, parent=parent, weight=weight
    )


def job_enqueue(*, job: Job) -> Job:
    """Send the job to the task registered for its kind once the surrounding transaction commits.

    Sending on commit means a worker never picks up a job whose rows it cannot see yet. Raises
    :class:`jobs.registry.UnknownJobKind` when no task runs jobs of that kind.
    """
    from .registry import job_send, job_task_for

    job_task_for(job.kind)
    task_id = str(uuid.uuid4())
    Job.objects.filter(pk=job.pk).update(celery_task_id=task_id)
    job.celery_task_id = task_id
    transaction.on_commit(lambda: job_send(job_id=job.pk, kind=job.kind, task_id=task_id))
    return job


def job_submit(
    *, kind: str, created_by=None, project=None, params: dict | None = None, parent: Job | None = None,
    weight: float = 1.0,
) -> Job:
    """Create a job and queue it for the task registered for ``kind`` (sent on commit).

    An unknown kind is refused (:class:`jobs.registry.UnknownJobKind`) before anything is written.
    """
    from .registry import job_task_for

    job_task_for(kind)
    job = job_create(kind=kind, created_by=created_by, project=project, params=params, parent=parent, weight=weight)
    return job_enqueue(job=job)


def job_start(*, job: Job, worker: str = "") -> bool:
    """Mark a queued job running. False when it must not run (cancelled or already finished).

    A job already "running" is accepted too: that is a redelivery after its worker died
    (tasks are acknowledged late), and the work starts again.
    """
    now = timezone.now()
    updated = Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200], progress=0.0, error="",
        attempts=F("attempts") + 1,
    )
    job.refresh_from_db()
    _sync_parent_of(job)
    return bool(updated)


def job_report(*, job: Job, progress: float | None = None, message: str | None = None) -> bool:
    """Record progress (and a heartbeat). Returns whether cancellation was requested."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = min(max(float(progress), 0.0), 1.0)
    if message is not None:
        fields["message"] = without_server_paths(message)[:500]
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**fields)
    _sync_parent_of(job)
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_log(*, job: Job, line: str) -> None:
    current = Job.objects.filter(pk=job.pk).values_list("log", flat=True).first() or ""
    text = (current + without_server_paths(line.rstrip("\n")) + "\n")[-LOG_TAIL_CHARS:]
    Job.objects.filter(pk=job.pk).update(log=text)


def job_heartbeat(*, job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())


def _finish(job: Job, status: str, **fields: Any) -> None:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=status, finished_at=timezone.now(), **fields
    )
    job.refresh_from_db()
    _sync_parent_of(job)


def job_succeed(*, job: Job, result: Any = None, message: str = "Done") -> None:
    _finish(job, Job.Status.SUCCEEDED, result=result, progress=1.0, message=message[:500])


def job_fail(*, job: Job, error: str) -> None:
    _finish(job, Job.Status.FAILED, error=without_server_paths(error), message="Failed")


def job_mark_cancelled(*, job: Job, message: str = "Cancelled") -> None:
    _finish(job, Job.Status.CANCELLED, message=message)


def job_retry(*, job: Job, reason: str) -> bool:
    """Put a running job whose attempt crashed back in the queue; False (nothing changed) when
    it is no longer running or its cancel was requested. The caller sends it again."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, cancel_requested=False).update(
        status=Job.Status.QUEUED, finished_at=None, message=without_server_paths(f"Retrying after: {reason}")[:500]
    )
    job.refresh_from_db()
    _sync_parent_of(job)
    return bool(updated)


def job_set_result(*, job: Job, result: Any) -> None:
    """Record a result before the job ends (a failed import keeps its problem report there)."""
    Job.objects.filter(pk=job.pk).update(result=result)
    job.result = result


class JobAlreadyFinished(Exception):
    """Cancelling a job that has already ended."""


def job_cancel(*, job: Job) -> Job:
    """Cancel a job: a queued one at once, a running one at its next progress report.
    Cancelling a group's parent cancels the group."""
    if Job.objects.filter(parent_id=job.pk).exists():
        return job_group_cancel(parent=job)
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
    _sync_parent_of(job)
    return job


# --- groups: a parent job made of child jobs ---------------------------------------------------
@dataclass(frozen=True)
class GroupKind:
    """How a kind of parent words its state and what it records as its result when it ends."""

    result: Callable[[Job, list[Job]], Any] | None = None  # (parent, children) -> the parent's result
    child_name: str = "part"  # errors read "Part 0: ...", messages "2 part(s) running"
    running_verb: str = "running"


_GROUP_KINDS: dict[str, GroupKind] = {}


def register_group(
    kind: str, *, result: Callable[[Job, list[Job]], Any] | None = None, child_name: str = "part",
    running_verb: str = "running",
) -> None:
    """Describe parents of ``kind`` (set by the app that owns the kind, in its AppConfig.ready)."""
    _GROUP_KINDS[kind] = GroupKind(result=result, child_name=child_name, running_verb=running_verb)


def _sync_parent_of(job: Job) -> None:
    if job.parent_id:
        job_group_sync(parent=Job(pk=job.parent_id))


def _cancel_queued_children(parent: Job) -> None:
    Job.objects.filter(parent=parent, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now(),
        message="Cancelled before it started",
    )


def job_group_sync(*, parent: Job) -> Job:
    """Bring a parent in line with its children: progress, status, error, result.

    Progress is the children's mean weighted by their ``weight`` (a succeeded child counts whole).
    Once every child has ended the parent ends too: failed if any child failed (their errors
    joined), cancelled if any was cancelled or the group's cancel was requested, else succeeded;
    until then it is running while a child runs and queued while none does (nothing of it can go
    stale between two children). Called whenever a child starts, reports, ends or is retried.
    """
    with transaction.atomic():
        parent = Job.objects.select_for_update().get(pk=parent.pk)
        if parent.is_terminal:
            return parent
        if parent.cancel_requested:  # cancelled while children wait for a worker: they never start
            _cancel_queued_children(parent)
        children = list(Job.objects.filter(parent=parent).order_by("pk"))
        if not children:
            return parent
        group = _GROUP_KINDS.get(parent.kind, GroupKind())
        total = sum(c.weight for c in children) or 1.0
        done = sum(c.weight * (1.0 if c.status == Job.Status.SUCCEEDED else c.progress) for c in children)
        statuses = {c.status for c in children}
        now = timezone.now()
        parent.progress = min(done / total, 1.0)
        parent.heartbeat_at = now
        if all(s in Job.TERMINAL for s in statuses):
            failed = [(i, c) for i, c in enumerate(children) if c.status == Job.Status.FAILED]
            if failed:
                parent.status, parent.message = Job.Status.FAILED, "Failed"
                parent.error = "; ".join(f"{group.child_name.capitalize()} {i}: {c.error}" for i, c in failed)[:5000]
            elif Job.Status.CANCELLED in statuses or parent.cancel_requested:
                parent.status, parent.message = Job.Status.CANCELLED, "Cancelled"
            else:
                parent.status, parent.message, parent.progress = Job.Status.SUCCEEDED, "Done", 1.0
            parent.finished_at = now
            if group.result is not None:
                parent.result = group.result(parent, children)
        elif Job.Status.RUNNING in statuses:
            parent.started_at = parent.started_at or now
            parent.status = Job.Status.RUNNING
            running = sum(1 for c in children if c.status == Job.Status.RUNNING)
            parent.message = f"{running} {group.child_name}(s) {group.running_verb}"
        else:
            parent.status = Job.Status.QUEUED  # between children: nothing runs, nothing may go stale
        parent.save(update_fields=[
            "progress", "heartbeat_at", "status", "message", "error", "finished_at", "result", "started_at",
        ])
    return parent


def job_group_cancel(*, parent: Job) -> Job:
    """Cancel a group: its queued children at once, the running ones at their next progress report.

    The parent ends when its children have (:func:`job_group_sync`): at once if none runs, else
    when the running ones stop. Raises :class:`JobAlreadyFinished` if it has already ended.
    """
    with transaction.atomic():
        parent = Job.objects.select_for_update().get(pk=parent.pk)
        if parent.is_terminal:
            raise JobAlreadyFinished(f"The job has already {parent.status}.")
        Job.objects.filter(pk=parent.pk).update(cancel_requested=True)
        _cancel_queued_children(parent)
        Job.objects.filter(parent=parent, status=Job.Status.RUNNING).update(cancel_requested=True)
    return job_group_sync(parent=parent)


def _resumable(kind: str) -> bool:
    from .registry import UnknownJobKind, job_task_for

    try:
        return job_task_for(kind).resumable
    except UnknownJobKind:
        return False


def jobs_sweep_stale(*, stale_after: int | None = None) -> int:
    """Deal with every running job whose heartbeat stopped: its worker died or was killed.

    A job of a resumable kind (``job_task(..., resumable=True)``: its work goes on from where it
    stopped, as training does from its last checkpoint) goes back to the queue and is sent again
    while it has been started fewer than ``JOB_RESUME_MAX_ATTEMPTS`` times; any other job, or one
    out of attempts (or whose cancel was requested), is marked failed with the reason. Returns how
    many jobs were re-queued or marked. Run periodically by the worker's beat and at worker start.
    """
    seconds = settings.JOB_STALE_AFTER if stale_after is None else stale_after
    max_attempts = getattr(settings, "JOB_RESUME_MAX_ATTEMPTS", 3)
    cutoff = timezone.now() - timedelta(seconds=seconds)
    # A group's parent is alive as long as its children are: the sweep judges the children.
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff, children__isnull=True)
    count = 0
    for job in stale:
        last = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
        where = f"last heartbeat {last}, {job.worker or 'unknown worker'}"
        resumable = _resumable(job.kind)
        if resumable and job.attempts < max_attempts and not job.cancel_requested:
            requeued = Job.objects.filter(
                pk=job.pk, status=Job.Status.RUNNING, heartbeat_at=job.heartbeat_at, cancel_requested=False
            ).update(
                status=Job.Status.QUEUED,
                message=f"Resuming: the worker running it stopped responding ({where})"[:500],
            )
            if requeued:
                job.refresh_from_db()
                job_enqueue(job=job)  # a new task id; the work goes on where it stopped
                _sync_parent_of(job)
                count += 1
            continue
        if resumable and not job.cancel_requested:
            error = (
                f"The worker running this job stopped responding ({where}) on attempt {job.attempts} of "
                f"{max_attempts}; the job was marked failed. Start it again."
            )
        else:
            error = (
                f"The worker running this job stopped responding ({where}); the job was marked failed. "
                "Start it again."
            )
        swept = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, heartbeat_at=job.heartbeat_at).update(
            status=Job.Status.FAILED,
            finished_at=timezone.now(),
            message="Failed",
            error=error,
            progress=F("progress"),
        )
        if swept:
            _sync_parent_of(job)
        count += swept
    return count
