"""Resuming: a training process killed mid-run (SIGKILL) is retried and resumes from its last
checkpoint; a run whose worker died is sent again by the stale-job sweep (a resumable kind) and
resumes the same way, until the attempts run out. Either way the history holds each epoch once
and ends with ``epochs`` epochs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.registry import job_task_for
from jobs.services import job_create, jobs_sweep_stale
from training.models import TrainingRun
from training.services import RUN_KIND, training_run_start

from .conftest import FAKE_WORKER, run_of

pytestmark = pytest.mark.django_db


def test_the_kind_is_resumable_on_the_train_queue():
    kind = job_task_for(RUN_KIND)
    assert kind.resumable and kind.queue == "train" and kind.retries >= 1 and kind.task.acks_late


def test_a_killed_process_is_retried_and_resumes_from_its_checkpoint(start, fake_worker, classify_version):
    fake_worker("--die-after", "2")
    run = run_of(start(version=classify_version.pk, task="classify", epochs=4, input_size=64))
    assert run.job.status == Job.Status.SUCCEEDED, (run.job.error, run.job.log)
    assert run.job.attempts == 2
    assert "killed (SIGKILL" in run.job.log  # the first attempt's end is on record
    assert "Resumed from the checkpoint after epoch 2" in run.job.log
    assert [e["epoch"] for e in run.history] == [1, 2, 3, 4]
    state = json.loads((run.folder / "state.json").read_text())
    assert state["epochs_done"] == 4


def _half_trained(project, users, version, settings) -> TrainingRun:
    """A run whose worker died after epoch 2: its folder and stored history as the dead one left them."""
    run = training_run_start(project=project, user=users["owner"], enqueue=False, version=version.pk,
                             task="classify", epochs=4, input_size=64)
    from training.runspec import run_spec_build

    run.folder.mkdir(parents=True)
    run_spec_build(run).write(run.folder)
    died = subprocess.run([sys.executable, str(FAKE_WORKER), "--die-after", "2", str(run.folder)],
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == -9
    epochs = [json.loads(line.split(" ", 1)[1]) for line in died.stdout.splitlines() if line.startswith("EPOCH ")]
    # The dead worker had stored epochs 1 and 2 (and epoch 3's line had not come).
    TrainingRun.objects.filter(pk=run.pk).update(history=epochs)
    Job.objects.filter(pk=run.job_id).update(
        status=Job.Status.RUNNING, attempts=1, worker="dead-host", heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    return run


def test_the_sweep_requeues_a_stale_run_which_resumes(project, users, classify_version, fake_worker, settings,
                                                      django_capture_on_commit_callbacks):
    run = _half_trained(project, users, classify_version, settings)
    old_task_id = Job.objects.get(pk=run.job_id).celery_task_id
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert jobs_sweep_stale(stale_after=60) == 1
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.QUEUED and "Resuming" in job.message and "dead-host" in job.message
    assert job.celery_task_id and job.celery_task_id != old_task_id and len(sent) == 1

    sent[0]()  # the broker hands it to a train worker: the job runs (eagerly here)
    run.refresh_from_db()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error, job.log)
    assert job.attempts == 2 and "Resumed from the checkpoint after epoch 2" in job.log
    assert [e["epoch"] for e in run.history] == [1, 2, 3, 4]


def test_a_redelivered_task_resumes_too(project, users, classify_version, fake_worker, settings):
    """acks_late: the broker gives the task of a dead worker to another; the job is still "running"."""
    run = _half_trained(project, users, classify_version, settings)
    job = Job.objects.get(pk=run.job_id)
    job_task_for(RUN_KIND).task.apply(args=[run.job_id], task_id=job.celery_task_id)  # the same message again
    run.refresh_from_db()
    assert run.job.status == Job.Status.SUCCEEDED and run.job.attempts == 2
    assert [e["epoch"] for e in run.history] == [1, 2, 3, 4]


def test_an_old_delivery_of_a_run_the_sweep_sent_again_is_ignored(project, users, classify_version, fake_worker,
                                                                  settings, django_capture_on_commit_callbacks):
    run = _half_trained(project, users, classify_version, settings)
    old_task_id = Job.objects.get(pk=run.job_id).celery_task_id
    with django_capture_on_commit_callbacks(execute=False):
        jobs_sweep_stale(stale_after=60)  # sent again, with a new task id (not delivered here)
    job_task_for(RUN_KIND).task.apply(args=[run.job_id], task_id=old_task_id)  # the broker's late redelivery
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.QUEUED and job.attempts == 1  # left for the current message
    job_task_for(RUN_KIND).task.apply(args=[run.job_id], task_id=job.celery_task_id)
    assert Job.objects.get(pk=run.job_id).status == Job.Status.SUCCEEDED


def test_the_sweep_gives_up_after_the_attempts_limit(project, users, classify_version, fake_worker, settings):
    settings.JOB_RESUME_MAX_ATTEMPTS = 3
    run = _half_trained(project, users, classify_version, settings)
    Job.objects.filter(pk=run.job_id).update(attempts=3)
    assert jobs_sweep_stale(stale_after=60) == 1
    job = Job.objects.get(pk=run.job_id)
    assert job.status == Job.Status.FAILED
    assert "stopped responding" in job.error and "attempt 3 of 3" in job.error
    assert len(TrainingRun.objects.get(pk=run.pk).history) == 2  # the history so far stays


def test_the_sweep_still_fails_stale_jobs_of_other_kinds(users):
    job = job_create(kind="export.version_build", created_by=users["owner"])
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert jobs_sweep_stale(stale_after=60) == 1
    job.refresh_from_db()
    assert job.status == "failed" and "stopped responding" in job.error


def test_a_cancelled_stale_run_is_not_requeued(project, users, classify_version, fake_worker, settings):
    run = _half_trained(project, users, classify_version, settings)
    Job.objects.filter(pk=run.job_id).update(cancel_requested=True)
    assert jobs_sweep_stale(stale_after=60) == 1
    assert Job.objects.get(pk=run.job_id).status == Job.Status.FAILED
