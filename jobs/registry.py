"""Job kinds and the tasks that run them: one kind, one Celery task named after it, one queue.

An app declares the work of a kind with :func:`job_task`::

    @job_task("images.upload_zip")
    def upload_zip(job: Job, ctx: JobContext) -> dict:
        return images_upload_zip(project=job.project, path=job.params["path"], user=job.created_by, ctx=ctx)

and starts such work with :func:`jobs.services.job_submit` (``kind="images.upload_zip"``), never
by naming the task. The decorated function becomes the Celery task (acknowledged late, so a
worker killed mid-job gets it redelivered) that loads the job and runs the function under
:func:`jobs.runner.run_job`; its queue (``default``, ``render`` for Blender, ``train`` for
training) is where it is sent, so routing is declared here, next to the work. A kind with
``retries`` goes back to the queue after an unexpected exception (one of ``retry_on``; never a
:class:`JobError` or a cancel) up to that many times, then fails. A ``resumable`` kind can go
on from where a dead attempt stopped (training resumes from its last checkpoint): the stale-job
sweep sends such a job again instead of failing it, up to ``JOB_RESUME_MAX_ATTEMPTS`` starts in all
(:func:`jobs.services.jobs_sweep_stale`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import shared_task

from .models import Job
from .runner import JobCancelled, JobContext, JobError, run_job

logger = logging.getLogger(__name__)

QUEUES = ("default", "render", "train")


class UnknownJobKind(LookupError):
    """No task is registered for the kind: nothing would ever run such a job."""


@dataclass(frozen=True)
class JobKind:
    kind: str
    queue: str
    retries: int
    retry_on: tuple[type[BaseException], ...]
    retry_delay: float
    function: Callable[[Job, JobContext], Any]
    task: Any  # the Celery task
    resumable: bool = False


_KINDS: dict[str, JobKind] = {}
_discovered = False


def job_task(
    kind: str,
    *,
    queue: str = "default",
    retries: int = 0,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    retry_delay: float = 2.0,
    resumable: bool = False,
):
    """Register ``fn(job, ctx) -> result`` as the work of jobs of ``kind``; returns its Celery task.

    The task's name is the kind and it takes the job id (``task.delay(job.pk)`` runs a job that
    exists already). ``retries``: how many times a crashed attempt is re-queued (the work should
    then go on where the previous attempt stopped), after ``retry_delay`` seconds. ``resumable``:
    the work goes on from where a dead attempt stopped, so a job of this kind whose worker died
    (heartbeat silent) is sent again by the sweep rather than failed.
    """
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}; workers consume {', '.join(QUEUES)}.")

    def register(fn: Callable[[Job, JobContext], Any]):
        known = _KINDS.get(kind)
        if known is not None and (known.function.__module__, known.function.__qualname__) != (
            fn.__module__, fn.__qualname__
        ):
            raise ValueError(f"The job kind {kind!r} is already registered by {known.function.__module__}.")

        def may_retry(job: Job, exc: Exception) -> bool:
            if isinstance(exc, (JobError, JobCancelled)) or not isinstance(exc, retry_on):
                return False
            return job.attempts <= retries

        def run(job_id: int) -> None:
            if resumable and _superseded(job_id):
                logger.info("job %s (%s): a stale delivery of a task sent again since; ignored", job_id, kind)
                return

            def work(ctx: JobContext) -> Any:
                job = Job.objects.select_related("project", "created_by").get(pk=job_id)
                return fn(job, ctx)

            job = run_job(job_id, work, retry=may_retry if retries else None)
            if job is not None and job.status == Job.Status.QUEUED:
                logger.info("job %s (%s) crashed; sending it again (attempt %s)", job_id, kind, job.attempts + 1)
                job_send(job_id=job_id, kind=kind, task_id=job.celery_task_id or None, countdown=retry_delay)

        run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        run.__module__ = fn.__module__
        task = shared_task(name=kind, acks_late=True, queue=queue)(run)
        _KINDS[kind] = JobKind(
            kind=kind, queue=queue, retries=retries, retry_on=tuple(retry_on), retry_delay=retry_delay,
            function=fn, task=task, resumable=resumable,
        )
        return task

    return register


def _superseded(job_id: int) -> bool:
    """Whether this delivery is an old copy of a job the sweep has sent again (with a new task id).

    A resumable job whose worker died may reach a worker twice: the sweep's new message, and the
    broker's redelivery of the old one (acknowledged late). Only the current one may run it, or
    two processes would work on the same job at once.
    """
    from celery import current_task

    delivered = getattr(getattr(current_task, "request", None), "id", None)
    current = Job.objects.filter(pk=job_id).values_list("celery_task_id", flat=True).first()
    return bool(delivered and current and delivered != current)


def _discover() -> None:
    """Import every app's task modules (as the worker does at start) so their kinds are known."""
    global _discovered
    if _discovered:
        return
    from django.utils.module_loading import autodiscover_modules

    from config.celery import TASK_MODULES

    autodiscover_modules(*TASK_MODULES)
    _discovered = True


def job_task_for(kind: str) -> JobKind:
    """The registration of ``kind``; raises :class:`UnknownJobKind` when there is none."""
    if kind not in _KINDS:
        _discover()
    try:
        return _KINDS[kind]
    except KeyError:
        raise UnknownJobKind(f"No task runs jobs of kind {kind!r}.") from None


def job_kinds() -> dict[str, JobKind]:
    """Every registered kind (after importing the apps' task modules)."""
    _discover()
    return dict(_KINDS)


def job_send(*, job_id: int, kind: str, task_id: str | None = None, countdown: float | None = None) -> None:
    """Hand the job to the broker, on its kind's queue (use :func:`jobs.services.job_enqueue`)."""
    registered = job_task_for(kind)
    options: dict[str, Any] = {"queue": registered.queue}
    if task_id:
        options["task_id"] = task_id
    if countdown:
        options["countdown"] = countdown
    registered.task.apply_async(args=[job_id], **options)
