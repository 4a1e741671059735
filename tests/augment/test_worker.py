"""The corruption job end to end in a real Celery worker process (not eagerly in the test)."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from annotate.models import Image
from jobs.models import Job
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_corruption_in_a_real_worker(celery_worker, api, users, project, add_images):
    images = add_images(4)
    Image.objects.filter(pk__in=[i.pk for i in images]).update(split="val")
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions",
                                        {"profile": "phone-low-light", "severity": 5, "split": "val", "seed": 2},
                                        format="json")
    assert response.status_code == 202
    job = wait_for(lambda: Job.objects.filter(pk=response.json()["id"], status__in=Job.TERMINAL).first(), timeout=120)
    assert job.status == "succeeded", (job.error, job.log)
    assert job.worker and job.progress == 1.0 and job.result["images"] == 4
    manifest = json.loads((Path(settings.MEDIA_ROOT) / job.result["folder"] / "manifest.json").read_text())
    assert [item["source_image"] for item in manifest["items"]] == [i.pk for i in images]
