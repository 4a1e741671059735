"""Runs one job's work with its whole life cycle handled in one place.

Tasks stay thin: they call :func:`run_job` with the job id and a function of a
:class:`JobContext`. The runner marks the job running, keeps a heartbeat going from a side thread
(so a long step without progress reports is not mistaken for a dead worker), turns
:class:`JobError` into a failed job with the user's message (not retried), turns cancellation into
a cancelled job (so does Ctrl-C when a management command runs the job in its own process), and
any other exception into a failed job with a short reason and the traceback in the log (or, when
the caller allows a retry for it, back into the queue: see :func:`jobs.registry.job_task`). A job
therefore never stays "running" once its process is gone: either the runner finishes it, or the
heartbeat stops and the sweep marks it failed.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection

from . import services
from .models import Job

logger = logging.getLogger(__name__)


class JobError(Exception):
    """An expected failure caused by the input (bad file, empty dataset): shown to the user."""


class JobCancelled(Exception):
    """Raised inside the work when the user asked to cancel."""


class JobContext:
    """What the work sees of its job: progress, log lines, and the cancel check."""

    REPORT_EVERY_SECONDS = 0.5

    def __init__(self, job: Job):
        self.job = job
        self._last_report = 0.0

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress; raises :class:`JobCancelled` if the user asked to cancel.

        Writes are throttled so a tight loop can call this for every item.
        """
        now = time.monotonic()
        if not force and message is None and now - self._last_report < self.REPORT_EVERY_SECONDS:
            return
        self._last_report = now
        if services.job_report(job=self.job, progress=fraction, message=message):
            raise JobCancelled()

    def log(self, line: str) -> None:
        services.job_log(job=self.job, line=line)

    def check_cancelled(self) -> None:
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()


class _Heartbeat(threading.Thread):
    def __init__(self, job_id: int, every: float):
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.job_id = job_id
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                services.job_heartbeat(job_id=self.job_id)
        except Exception:  # the database went away; the sweep will judge the job
            logger.exception("heartbeat for job %s stopped", self.job_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def run_job(
    job_id: int, work: Callable[[JobContext], Any], *, retry: Callable[[Job, Exception], bool] | None = None
) -> Job | None:
    """Run ``work`` for the job; record its result or why it failed. Never raises for the work.

    ``retry(job, exc)``, asked about an unexpected exception (not JobError or JobCancelled), says
    whether this attempt may be retried: the job then goes back to "queued" (with the traceback
    in its log) instead of failing, and the caller sends it again.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists; nothing to do", job_id)
        return None
    if not services.job_start(job=job, worker=socket.gethostname()):
        logger.info("job %s is %s; not running it", job_id, job.status)
        return job
    heartbeat = _Heartbeat(job.pk, settings.JOB_HEARTBEAT_SECONDS)
    heartbeat.start()
    ctx = JobContext(job)
    try:
        try:
            result = work(ctx)
        except JobCancelled:
            services.job_mark_cancelled(job=job)
        except JobError as exc:
            services.job_fail(job=job, error=str(exc))
        except Exception as exc:  # an unexpected bug: keep the reason short, the trace in the log
            logger.exception("job %s failed", job_id)
            services.job_log(job=job, line=traceback.format_exc())
            retried = retry is not None and retry(job, exc) and services.job_retry(job=job, reason=str(exc)[:300])
            if not retried:
                services.job_fail(job=job, error=f"Internal error ({type(exc).__name__}): {exc}")
        else:
            services.job_succeed(job=job, result=result)
    except KeyboardInterrupt:
        # Ctrl-C in a command running the job here (during the work or while its end is being
        # recorded): the user stopped it, which is a cancel. Say so now rather than leave it
        # "running" until the sweep (a job already finished stays as it is), then go on stopping.
        services.job_mark_cancelled(job=job, message="Interrupted")
        raise
    finally:
        heartbeat.stop()
    return job
