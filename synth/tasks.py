"""Render-queue tasks (names start with ``synth.``, which routes them to the ``render`` queue)."""

from __future__ import annotations

from celery import shared_task

from jobs.models import Job
from jobs.runner import JobCancelled, JobError, run_job

from . import services
from .models import SynthShard


class ShardCrashed(Exception):
    """A shard stopped on an unexpected error (a Blender crash, a lost file): worth one retry."""


@shared_task(
    name="synth.render_shard", bind=True, acks_late=True, autoretry_for=(ShardCrashed,), max_retries=1,
    default_retry_delay=2,
)
def render_shard(self, job_id: int) -> None:
    """Generate one shard of a synth job; retried once if it crashed, not if the input was bad."""
    crashed: list[BaseException] = []

    def work(ctx):
        shard = SynthShard.objects.select_related("synth_job").get(job_id=job_id)
        SynthShard.objects.filter(pk=shard.pk).update(attempts=shard.attempts + 1)
        try:
            return services.shard_run(shard=shard, ctx=ctx)
        except (JobError, JobCancelled):
            raise
        except Exception as exc:
            crashed.append(exc)
            raise

    run_job(job_id, work)
    shard = SynthShard.objects.select_related("synth_job").filter(job_id=job_id).first()
    if shard is None:
        return
    if crashed and self.request.retries < self.max_retries:
        # Back to the queue: the retry starts again from the first image not stored yet.
        Job.objects.filter(pk=job_id, status=Job.Status.FAILED).update(
            status=Job.Status.QUEUED, finished_at=None, message=f"Retrying after: {str(crashed[0])[:300]}"
        )
        services.synth_job_sync(synth_job=shard.synth_job)
        raise ShardCrashed(str(crashed[0]))
    services.synth_job_sync(synth_job=shard.synth_job)
