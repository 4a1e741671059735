import io
from pathlib import Path

import pytest
from django.conf import settings

from jobs.models import Job
from tests.export.import_fixtures import coco_box, coco_dataset, jpeg, project_counts, zip_bytes

pytestmark = pytest.mark.django_db


def _post(client, project_id, data: bytes, **fields):
    upload = io.BytesIO(data)
    upload.name = "dataset.zip"
    return client.post(f"/api/projects/{project_id}/import", {"file": upload, **fields}, format="multipart")


def _leftover_uploads() -> list[Path]:
    folder = Path(settings.DATA_DIR) / "imports"
    return list(folder.glob("*.zip")) if folder.exists() else []


def test_post_returns_202_and_the_job_imports(project, users, api, django_capture_on_commit_callbacks):
    client = api(users["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, project.pk, zip_bytes(coco_dataset()), format="coco")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["kind"] == "export.import_dataset" and body["project"] == project.pk

    job = client.get(f"/api/jobs/{body['id']}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0
    assert job["result"]["images_created"] == 1 and job["result"]["annotations_created"] == 1
    assert job["result"]["labels_created"] == ["cat"]
    assert project_counts(project) == (1, 1, 1)
    assert not _leftover_uploads()


def test_a_refused_dataset_fails_the_job_with_a_report(project, users, api, django_capture_on_commit_callbacks):
    members = coco_dataset(annotations=[coco_box(1, 1, 7, [1, 1, 5, 5]), coco_box(2, 1, 42, [50, 40, 30, 30])])
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api(users["owner"]), project.pk, zip_bytes(members), format="coco")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed"
    assert "The dataset has 1 problem(s), so nothing was imported." in job.error
    assert "instances_train.json, annotation id 2: Its category_id 42 is not among the categories." in job.error
    assert job.result == {
        "problems": [{"file": "annotations/instances_train.json", "object": "annotation id 2",
                      "message": "Its category_id 42 is not among the categories."}],
        "problem_count": 1,
    }
    assert project_counts(project) == (0, 0, 0)
    assert not _leftover_uploads()


def test_clip_option_through_the_api(project, users, api, django_capture_on_commit_callbacks):
    members = coco_dataset(annotations=[coco_box(1, 1, 7, [-1, 4, 20, 10])])
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(api(users["owner"]), project.pk, zip_bytes(members), format="coco", clip="1")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded" and job.result["clipped"] == 1


@pytest.mark.parametrize(
    "data, fields, field, message",
    [
        (zip_bytes({"../../evil.json": "{}", **coco_dataset()}), {"format": "coco"}, "file", "climbs out"),
        (zip_bytes({"/etc/cron.d/x.json": "{}"}), {"format": "coco"}, "file", "absolute path"),
        (b"this is not a zip", {"format": "coco"}, "file", "not a readable zip"),
        (zip_bytes({}), {"format": "coco"}, "file", "holds no files"),
        (zip_bytes(coco_dataset()), {"format": "voc"}, "format", "look like a coco dataset"),
        (zip_bytes(coco_dataset()), {"format": "labelme"}, "format", "not a valid choice"),
        (zip_bytes(coco_dataset()), {}, "format", "required"),
    ],
    ids=["zip-slip", "absolute-path", "not-a-zip", "empty-zip", "format-mismatch", "unknown-format", "no-format"],
)
def test_bad_archives_get_400_and_change_nothing(project, users, api, data, fields, field, message):
    response = _post(api(users["owner"]), project.pk, data, **fields)
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert not Job.objects.exists()
    assert project_counts(project) == (0, 0, 0)
    assert not _leftover_uploads()


def test_zip_bomb_gets_400(project, users, api, settings):
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 1024 * 1024
    data = zip_bytes({**coco_dataset(), "zeros.bin": b"\0" * (8 * 1024 * 1024)})
    assert len(data) < 100_000
    response = _post(api(users["owner"]), project.pk, data, format="coco")
    assert response.status_code == 400 and "zip bomb" in response.json()["file"][0]
    assert not Job.objects.exists()


def test_missing_file_field(project, users, api):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/import", {"format": "coco"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


@pytest.mark.parametrize("who, code", [("outsider", 404), ("annotator", 403), ("viewer", 403), (None, 401)])
def test_only_owners_may_import(project, users, api, who, code):
    response = _post(api(users.get(who)), project.pk, zip_bytes(coco_dataset()), format="coco")
    assert response.status_code == code
    assert not Job.objects.exists()


def test_unknown_project_is_404(users, api):
    assert _post(api(users["owner"]), 999999, zip_bytes({"a.jpg": jpeg()}), format="coco").status_code == 404
