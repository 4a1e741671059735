"""Train-queue job kind: one training run per task (see :mod:`training.services`).

Run a train worker with one process (``celery -A config worker -Q train -c 1``): a run takes the
machine's cores (``TRAINING_THREADS`` per TensorFlow pool) and memory, and the worker takes one
task at a time (prefetch 1, acknowledged late).
"""

from __future__ import annotations

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from .models import TrainingRun
from .services import RUN_KIND, TrainingProcessKilled, training_run_execute


@job_task(RUN_KIND, queue="train", retries=2, retry_on=(TrainingProcessKilled,), retry_delay=5, resumable=True)
def run_training(job: Job, ctx: JobContext) -> dict:
    """Train one run. A killed training process is retried (twice) and a dead worker's job is
    sent again by the sweep: either way the process resumes from its last checkpoint."""
    run = TrainingRun.objects.select_related("project", "version", "recipe", "init_from").get(job_id=job.pk)
    return training_run_execute(run=run, ctx=ctx)
