from jobs import services
from jobs.models import Job


def test_members_see_project_jobs_and_others_get_404(api, users, project):
    job = services.job_create(kind="test", created_by=users["annotator"], project=project)
    assert api(users["viewer"]).get(f"/api/jobs/{job.pk}/").json()["status"] == "queued"
    assert api(users["outsider"]).get(f"/api/jobs/{job.pk}/").status_code == 404
    assert [j["id"] for j in api(users["viewer"]).get("/api/jobs/").json()["results"]] == [job.pk]


def test_cancel_queued_job_then_409(api, users, project):
    job = services.job_create(kind="test", created_by=users["annotator"], project=project)
    assert api(users["viewer"]).post(f"/api/jobs/{job.pk}/cancel").status_code == 403
    response = api(users["annotator"]).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    again = api(users["owner"]).post(f"/api/jobs/{job.pk}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_running_job_sets_the_flag(api, users, project):
    job = services.job_create(kind="test", created_by=users["annotator"], project=project)
    Job.objects.filter(pk=job.pk).update(status="running")
    response = api(users["owner"]).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True
