"""The import task is registered with the worker (celery.py discovers ``export.import_tasks``) and runs
end to end in a real worker process."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from tests.conftest import wait_for
from tests.export.import_fixtures import coco_dataset, project_counts, zip_bytes

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_import_in_a_real_worker(celery_worker, api, users, project):
    upload = SimpleUploadedFile("set.zip", zip_bytes(coco_dataset()))
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/import", {"file": upload, "format": "coco"})
    assert response.status_code == 202, response.content
    job = wait_for(lambda: Job.objects.filter(pk=response.json()["id"], status__in=Job.TERMINAL).first(), timeout=90)
    assert job.status == "succeeded", (job.error, job.log)
    assert job.worker and job.result["annotations_created"] == 1
    assert project_counts(project) == (1, 1, 1)
