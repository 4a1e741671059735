"""Project roles: owners start and cancel runs, other members see them (403 on POST and cancel),
non-members get 404 for all of it (tests/test_permissions.py walks every endpoint as well)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from training.models import TrainingRun

from .conftest import run_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(start, fake_worker, classify_version):
    return run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))


def test_only_owners_start(api, users, project, classify_version):
    body = {"version": classify_version.pk, "task": "classify", "input_size": 64}
    for role in ("viewer", "annotator", "reviewer"):
        response = api(users[role]).post(f"/api/projects/{project.pk}/training-runs/", body, format="json")
        assert response.status_code == 403, role
    assert api(users["outsider"]).post(f"/api/projects/{project.pk}/training-runs/", body,
                                       format="json").status_code == 404
    assert not TrainingRun.objects.exists()
    assert api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", body,
                                    format="json").status_code == 202


def test_members_see_and_outsiders_get_404(api, users, finished, project):
    artifact = finished.artifacts.filter(status="ok").first()
    urls = [
        f"/api/projects/{project.pk}/training-runs/", f"/api/training-runs/{finished.pk}/",
        f"/api/training-runs/{finished.pk}/artifacts/", f"/api/training-runs/{finished.pk}/plots/learning_curves",
        f"/api/artifacts/{artifact.pk}/download",
    ]
    for url in urls:
        assert api(users["viewer"]).get(url).status_code == 200, url
        assert api(users["outsider"]).get(url).status_code == 404, url
        assert api(None).get(url).status_code in (401, 403), url


def test_owners_cancel_viewers_may_not(api, users, project, classify_version, fake_worker):
    run = run_of(api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                          {"version": classify_version.pk, "task": "classify", "input_size": 64},
                                          format="json"))  # queued: its job is not sent in this test
    assert api(users["viewer"]).post(f"/api/jobs/{run.job_id}/cancel").status_code == 403
    assert api(users["outsider"]).post(f"/api/jobs/{run.job_id}/cancel").status_code == 404
    response = api(users["owner"]).post(f"/api/jobs/{run.job_id}/cancel")
    assert response.status_code == 202 and Job.objects.get(pk=run.job_id).status == "cancelled"
    assert api(users["viewer"]).get(f"/api/training-runs/{run.pk}/").json()["status"] == "cancelled"
