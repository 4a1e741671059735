"""The upload, import and jobs pages on the server (no browser): who sees them, who gets their
controls, and the project page's sections that link them."""

from __future__ import annotations

import pytest
from django.test import Client

from jobs.models import Job
from jobs.services import job_create

pytestmark = pytest.mark.django_db

PAGES = ("upload", "import", "jobs")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_log_in_and_outsiders_get_404(users, project, page):
    response = Client().get(f"/projects/{project.pk}/{page}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(users["outsider"]).get(f"/projects/{project.pk}/{page}/").status_code == 404


@pytest.mark.parametrize("role, controls", [("owner", True), ("annotator", True), ("reviewer", False), ("viewer", False)])
def test_upload_controls_are_for_those_who_may_upload(users, project, role, controls):
    html = client_for(users[role]).get(f"/projects/{project.pk}/upload/").content.decode()
    assert ('data-testid="dropzone"' in html) is controls
    assert ("js/intake/upload.js" in html) is controls
    assert ('data-testid="not-allowed"' in html) is not controls
    assert f'<a href="/projects/{project.pk}/">{project.name}</a> › Upload' in html


@pytest.mark.parametrize("role, controls", [("owner", True), ("annotator", False), ("viewer", False)])
def test_import_controls_are_for_owners(users, project, role, controls):
    html = client_for(users[role]).get(f"/projects/{project.pk}/import/").content.decode()
    assert ('data-testid="import-form"' in html) is controls
    assert ('value="coco"' in html) is controls


def test_every_member_sees_the_jobs_page(users, project):
    html = client_for(users["viewer"]).get(f"/projects/{project.pk}/jobs/").content.decode()
    assert 'data-testid="job-list"' in html and "js/intake/jobs.js" in html


def test_project_page_links_the_sections_by_role(users, project):
    job_create(kind="test", created_by=users["owner"], project=project)
    done = job_create(kind="test", created_by=users["owner"], project=project)
    Job.objects.filter(pk=done.pk).update(status="succeeded")
    owner = client_for(users["owner"]).get(f"/projects/{project.pk}/").content.decode()
    assert f'href="/projects/{project.pk}/upload/"' in owner and f'href="/projects/{project.pk}/import/"' in owner
    assert 'data-testid="hub-jobs">Jobs <span class="count">1</span>' in owner
    viewer = client_for(users["viewer"]).get(f"/projects/{project.pk}/").content.decode()
    assert "/upload/" not in viewer and "/import/" not in viewer and f"/projects/{project.pk}/jobs/" in viewer
    annotator = client_for(users["annotator"]).get(f"/projects/{project.pk}/").content.decode()
    assert "/upload/" in annotator and "/import/" not in annotator
