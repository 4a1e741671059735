"""With a real Celery worker process: a zip upload runs end to end, and a worker killed mid-job
leaves a job that the sweep marks failed (never "running" forever)."""

import io
import os
import signal
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import Image
from jobs.models import Job
from jobs.services import jobs_sweep_stale
from tests.conftest import image_bytes, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def zip_of_images(n: int, size: int = 64) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for i in range(n):
            zf.writestr(f"img/{i:05d}.png", image_bytes(size, size, seed=i, fmt="PNG"))
    return out.getvalue()


def upload_zip(api, user, project, data):
    response = api(user).post(
        f"/api/projects/{project.pk}/images/zip", {"file": SimpleUploadedFile("batch.zip", data)}
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_zip_upload_in_a_real_worker(celery_worker, api, users, project):
    job_id = upload_zip(api, users["owner"], project, zip_of_images(12))
    job = wait_for(lambda: Job.objects.filter(pk=job_id, status__in=Job.TERMINAL).first(), timeout=90)
    assert job.status == "succeeded", (job.error, job.log)
    assert job.result["created"] == 12 and job.worker
    assert Image.objects.filter(project=project).count() == 12


def test_killed_worker_leaves_a_job_the_sweep_fails(celery_worker, api, users, project, settings):
    job_id = upload_zip(api, users["owner"], project, zip_of_images(1500, size=160))
    wait_for(lambda: Job.objects.filter(pk=job_id, status="running", progress__gt=0).exists(), timeout=90, every=0.05)
    os.kill(celery_worker.pid, signal.SIGKILL)
    celery_worker.wait(timeout=10)
    time.sleep(2.5)  # heartbeats (every second in tests) have stopped
    assert Job.objects.get(pk=job_id).status == "running"
    assert jobs_sweep_stale(stale_after=2) == 1
    job = Job.objects.get(pk=job_id)
    assert job.status == "failed" and "stopped responding" in job.error
    assert not Image.objects.filter(project=project).exists()  # all-or-nothing: nothing half-added
