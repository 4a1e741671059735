"""Who sees a job follows current project membership; what the API shows of it keeps server paths out."""

from __future__ import annotations

from annotate import services as annotate_services
from annotate.models import Membership
from jobs import services
from jobs.models import Job
from jobs.serializers import public_params


def test_a_removed_member_no_longer_sees_or_cancels_the_jobs_they_started(api, users, project):
    job = services.job_create(kind="test", created_by=users["annotator"], project=project)
    client = api(users["annotator"])
    assert client.get(f"/api/jobs/{job.pk}/").status_code == 200
    annotate_services.membership_remove(membership=Membership.objects.get(project=project, user=users["annotator"]))
    assert client.get(f"/api/jobs/{job.pk}/").status_code == 404
    assert client.get("/api/jobs/").json()["results"] == []
    assert client.post(f"/api/jobs/{job.pk}/cancel").status_code == 404
    job.refresh_from_db()
    assert job.status == "queued"


def test_a_job_without_a_project_is_its_starters(api, users, project):
    job = services.job_create(kind="test", created_by=users["outsider"])
    assert [j["id"] for j in api(users["outsider"]).get("/api/jobs/").json()["results"]] == [job.pk]
    assert api(users["outsider"]).post(f"/api/jobs/{job.pk}/cancel").status_code == 202
    assert api(users["owner"]).get(f"/api/jobs/{job.pk}/").status_code == 404


def test_job_params_show_file_names_not_server_paths(api, users, project):
    job = services.job_create(
        kind="test", created_by=users["annotator"], project=project,
        params={"path": "/srv/lensforge/var/uploads/4f1c.zip", "name": "cats.zip", "files": 3,
                "nested": {"model_path": "/srv/lensforge/var/models/m.keras", "epochs": 5},
                "source_paths": ["/srv/a.png", "/srv/b.png"]},
    )
    for url in (f"/api/jobs/{job.pk}/", "/api/jobs/"):
        body = api(users["viewer"]).get(url).json()
        params = body["params"] if "params" in body else body["results"][0]["params"]
        assert params == {"path": "4f1c.zip", "name": "cats.zip", "files": 3,
                          "nested": {"model_path": "m.keras", "epochs": 5}, "source_paths": ["a.png", "b.png"]}
        assert "/srv" not in str(body)
    job.refresh_from_db()
    assert job.params["path"] == "/srv/lensforge/var/uploads/4f1c.zip"  # the job itself still has it


def test_job_results_show_file_names_too(api, users, project):
    job = services.job_create(kind="test", created_by=users["annotator"], project=project)
    Job.objects.filter(pk=job.pk).update(
        result={"variants": [{"format": "tflite", "path": "/srv/var/models/7/float32.tflite", "size_bytes": 10}]}
    )
    body = api(users["viewer"]).get(f"/api/jobs/{job.pk}/").json()
    assert body["result"] == {"variants": [{"format": "tflite", "path": "float32.tflite", "size_bytes": 10}]}


def test_public_params_leaves_other_values_alone():
    assert public_params({"path": None, "paths": "x", "format": "coco", "version": 3}) == {
        "path": None, "paths": "x", "format": "coco", "version": 3,
    }
    assert public_params({"archive_path": "C:\\data\\in.zip"}) == {"archive_path": "in.zip"}
