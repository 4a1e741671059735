"""Train-queue job kinds: one training run per task (see :mod:`training.services`), and the
robustness report of a finished run's exported file (see :mod:`training.robustness`).

Run a train worker with one process (``celery -A config worker -Q train -c 1``): a run takes the
machine's cores (``TRAINING_THREADS`` per TensorFlow pool) and memory, and the worker takes one
task at a time (prefetch 1, acknowledged late).
"""

from __future__ import annotations

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .models import RobustnessReport, TrainingRun
from .robustness import ROBUSTNESS_KIND, robustness_execute
from .services import RUN_KIND, TrainingProcessKilled, training_run_execute


@job_task(RUN_KIND, queue="train", retries=2, retry_on=(TrainingProcessKilled,), retry_delay=5, resumable=True)
def run_training(job: Job, ctx: JobContext) -> dict:
    """Train one run. A killed training process is retried (twice) and a dead worker's job is
    sent again by the sweep: either way the process resumes from its last checkpoint."""
    run = TrainingRun.objects.select_related("project", "version", "recipe", "init_from").get(job_id=job.pk)
    return training_run_execute(run=run, ctx=ctx)


@job_task(ROBUSTNESS_KIND, queue="train", resumable=True)
def run_robustness(job: Job, ctx: JobContext) -> dict:
    """Score one exported file on the corrupted test split (see :mod:`training.robustness`). Sent
    again when its worker died: corrupted splits already written are reused, the rest is redone."""
    report = RobustnessReport.objects.select_related("run__project", "run__version").get(job_id=job.pk)
    return robustness_execute(report=report, ctx=ctx)
