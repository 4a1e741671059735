"""Render-queue job kinds: one shard of a synth job per task (see :mod:`synth.services`)."""

from __future__ import annotations

from django.db.models import F

from jobs.models import Job
from jobs.registry import job_task
from jobs.runner import JobContext

from . import services
from .models import SynthShard

SHARD_KIND = "synth.shard"


@job_task(SHARD_KIND, queue="render", retries=1, retry_delay=2)
def render_shard(job: Job, ctx: JobContext) -> dict:
    """Generate one shard of a synth job; retried once if it crashed, not if the input was bad.

    A retry starts again from the first image not stored yet; the jobs app keeps the synth job's
    own Job in line with its shards (their group) as they start, report, end or go back to the queue.
    """
    shard = SynthShard.objects.select_related("synth_job").get(job_id=job.pk)
    SynthShard.objects.filter(pk=shard.pk).update(attempts=F("attempts") + 1)
    shard.attempts += 1
    return services.shard_run(shard=shard, ctx=ctx)
