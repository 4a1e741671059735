"""Shards in real processes: a crashed Blender worker is retried and goes on where it stopped; a
cancel stops the rendering shard between two images and the queued ones before they start; Ctrl-C
in ``manage.py synth`` cancels the job instead of leaving it "running".

Each test renders a few 96x96 images at 2 samples; the faults are real (the Blender process is
killed with SIGKILL, the command gets SIGINT as from a terminal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from annotate import services as annotate_services
from annotate.models import Image
from jobs.models import Job
from synth.models import SynthJob, SynthShard
from synth.services import synth_job_create

from ..conftest import wait_for
from .builders import CHARACTER, blender_spec

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
# Renders slow enough (about half a second each here) that the fault lands mid-shard.
SLOW_ENOUGH = {"resolution": [128, 128], "samples": 32}


def render_workers(shard: SynthShard) -> list[int]:
    """Pids of the Blender processes rendering ``shard`` (found by their shard folder)."""
    marker = f"lensforge-shard-{shard.pk}-".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"synth.render_worker" in cmdline and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def stored(shard: SynthShard) -> int:
    return len(SynthShard.objects.get(pk=shard.pk).image_ids)


def job_status(job_id: int) -> str:
    return Job.objects.get(pk=job_id).status


@pytest.fixture
def person(project):
    return annotate_services.label_create(project=project, name="person", keypoint_names=CHARACTER)


def test_crashed_shard_is_retried_and_goes_on_where_it_stopped(celery_worker, users, project, person):
    synth_job = synth_job_create(project=project, user=users["owner"],
                                 spec=blender_spec(person.pk, count=4, shard_size=4, **SLOW_ENOUGH))
    shard = SynthShard.objects.get(synth_job=synth_job)
    wait_for(lambda: stored(shard) >= 1, timeout=180, every=0.02)
    pids = render_workers(shard)
    assert len(pids) == 1, "the first image is stored while Blender renders the next ones"
    os.kill(pids[0], signal.SIGKILL)  # a Blender crash mid-shard

    wait_for(lambda: job_status(synth_job.job_id) in Job.TERMINAL, timeout=240)
    shard.refresh_from_db()
    assert shard.attempts == 2
    assert shard.job.status == Job.Status.SUCCEEDED and job_status(synth_job.job_id) == Job.Status.SUCCEEDED
    assert "The Blender worker exited with code -9" in shard.job.log  # the crash is on record
    # Every index rendered exactly once: the retry started after the images already stored.
    images = Image.objects.filter(pk__in=shard.image_ids)
    assert len(shard.image_ids) == len(set(shard.image_ids)) == 4
    assert sorted(image.meta["index"] for image in images) == [0, 1, 2, 3]
    assert Image.objects.filter(project=project, source=Image.Source.SYNTHETIC).count() == 4


def test_cancel_stops_the_rendering_shard_and_the_queued_ones(celery_worker, api, users, project, person):
    synth_job = synth_job_create(project=project, user=users["owner"],
                                 spec=blender_spec(person.pk, count=12, shard_size=6, **SLOW_ENOUGH))
    shards = list(SynthShard.objects.filter(synth_job=synth_job))
    # One worker: when the first image arrives, one shard renders and the other waits in the queue
    # (which one goes first is the broker's choice).
    wait_for(lambda: sum(stored(s) for s in shards) >= 1, timeout=180, every=0.02)
    first = next(s for s in shards if stored(s) >= 1)
    second = next(s for s in shards if s.pk != first.pk)
    response = api(users["owner"]).post(f"/api/jobs/{synth_job.job_id}/cancel")
    assert response.status_code == 202, response.content

    wait_for(lambda: job_status(synth_job.job_id) in Job.TERMINAL, timeout=120)
    assert job_status(synth_job.job_id) == Job.Status.CANCELLED
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.job.status == Job.Status.CANCELLED and 1 <= len(first.image_ids) < 6
    assert second.job.status == Job.Status.CANCELLED and second.image_ids == [] and second.attempts == 0
    wait_for(lambda: not render_workers(first), timeout=10)  # Blender was stopped, not left running
    kept = Image.objects.filter(project=project, source=Image.Source.SYNTHETIC)
    assert sorted(kept.values_list("pk", flat=True)) == sorted(first.image_ids)


def test_ctrl_c_in_the_command_cancels_the_job_and_keeps_what_was_stored(users, project, person):
    from django.db import connection

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "WORKER_DB_NAME": str(connection.settings_dict["NAME"])}
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "synth", str(project.pk), "--generator", "blender", "--count", "6",
         "--resolution", "128x128", "--samples", "32", "--shard-size", "3", "--class", "person=builtin:character"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # A suite started in the background by a shell inherits SIGINT ignored; a terminal's does not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        synth_job = wait_for(lambda: SynthJob.objects.first(), timeout=60)
        first = SynthShard.objects.get(synth_job=synth_job, number=0)
        wait_for(lambda: stored(first) >= 1, timeout=180, every=0.02)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends the whole foreground group on Ctrl-C
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, (out, err)
    assert f"Interrupted: synth job {synth_job.pk} is cancelled" in err
    first.refresh_from_db()
    second = SynthShard.objects.get(synth_job=synth_job, number=1)
    assert first.job.status == Job.Status.CANCELLED and first.job.message == "Interrupted"
    assert second.job.status == Job.Status.CANCELLED and second.image_ids == []
    assert job_status(synth_job.job_id) == Job.Status.CANCELLED
    assert not Job.objects.filter(status__in=[Job.Status.RUNNING, Job.Status.QUEUED]).exists()
    assert not render_workers(first)
    assert f"{len(first.image_ids)} image" in err and len(first.image_ids) >= 1
    assert Image.objects.filter(project=project, source=Image.Source.SYNTHETIC).count() == len(first.image_ids)
