"""A version build and a large export run by a real Celery worker process, as in production.

The job's heartbeat thread writes to the database while the work reads and writes through its
own connection; on SQLite that fails ("database is locked") if the work keeps a read cursor open
across its writes. Enough images for several pages, and a heartbeat every second, exercise it.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from datasets.models import DatasetVersion
from jobs.models import Job
from tests.conftest import annotate, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.worker]


def _finished(job_id: int):
    job = Job.objects.get(pk=job_id)
    return job if job.is_terminal else None


def test_build_and_large_export_in_a_real_worker(celery_worker, api, users, project, labels, add_images, settings):
    images = add_images(1200, width=32, height=24)
    for image in images[:50]:
        annotate(image, [(labels["cat"], "box", {"x": 1, "y": 1, "w": 8, "h": 8})])
    client = api(users["owner"])
    response = client.post(f"/api/projects/{project.pk}/versions/", {"name": "worker"}, format="json")
    assert response.status_code == 202
    job = wait_for(lambda: _finished(response.data["id"]), timeout=180)
    assert job.status == Job.Status.SUCCEEDED, job.error
    version = DatasetVersion.objects.get(pk=response.data["version"])
    assert version.status == DatasetVersion.Status.READY and version.image_count == 1200

    settings.EXPORT_JOB_MIN_IMAGES = 100
    url = f"/api/versions/{version.pk}/export?format=coco&images=1"
    started = client.get(url)
    assert started.status_code == 202
    job = wait_for(lambda: _finished(started.data["id"]), timeout=180)
    assert job.status == Job.Status.SUCCEEDED, job.error
    done = client.get(url)
    assert done.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(done.streaming_content)))
    assert sum(1 for n in archive.namelist() if n.startswith("images/")) == 1200
