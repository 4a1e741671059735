"""The import as a job: progress reported, cancel honoured with nothing written, upload removed."""

import pytest

from export.dataset_import import dataset_import_job_create
from export.import_tasks import import_dataset
from jobs.models import Job
from tests.export.import_fixtures import coco_dataset, project_counts, write_zip

pytestmark = pytest.mark.django_db


def test_a_cancelled_import_writes_nothing_and_removes_the_upload(project, users, tmp_path):
    path = write_zip(tmp_path, coco_dataset())
    job = dataset_import_job_create(project=project, path=path, format="coco", user=users["owner"], delete_after=True)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, cancel_requested=True)
    import_dataset.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert project_counts(project) == (0, 0, 0)
    assert not path.exists()


def test_the_job_reports_progress_and_keeps_the_users_file(project, users, tmp_path):
    path = write_zip(tmp_path, coco_dataset())
    job = dataset_import_job_create(project=project, path=path, format="coco", user=users["owner"])
    import_dataset.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "succeeded" and job.progress == 1.0
    assert job.params == {
        "path": str(path), "format": "coco", "clip": False, "name": "", "delete_after": False, "skip_broken": False,
    }
    assert path.exists()
