"""The synth page: members only (404 for others), read-only for viewers, jobs with their first images."""

from __future__ import annotations

import pytest

from synth import services

from .builders import cutpaste_assets

pytestmark = pytest.mark.django_db


def page(client, user, project):
    client.force_login(user)
    return client.get(f"/projects/{project.pk}/synth/")


def test_login_required(client, project):
    response = client.get(f"/projects/{project.pk}/synth/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_non_members_get_404(client, users, project):
    assert page(client, users["outsider"], project).status_code == 404
    assert page(client, users["owner"], type(project)(pk=project.pk + 999)).status_code == 404


def test_annotator_gets_the_form_with_classes_builtins_and_assets(client, users, project, labels):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    response = page(client, users["annotator"], project)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="synth-form"' in html and 'data-testid="read-only"' not in html
    assert 'data-testid="use-label-cat"' in html and 'data-testid="use-label-dog"' in html
    assert 'value="builtin:character"' in html and 'value="builtin:torus"' in html
    assert f'data-testid="cutout-{cutout.pk}"' in html and f'data-testid="background-{background.pk}"' in html
    assert f'data-jobs-api="/api/projects/{project.pk}/synth-jobs/"' in html
    assert "js/synth/synth_page.js" in html and "No synth jobs yet" in html


def test_viewer_sees_jobs_read_only(client, users, project, labels):
    response = page(client, users["viewer"], project)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="read-only"' in html
    assert 'data-testid="synth-form"' not in html and 'data-testid="asset-form"' not in html
    assert 'data-can-create="0"' in html


def test_jobs_listed_with_progress_and_first_images(client, users, project, labels, django_capture_on_commit_callbacks):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    spec = {"generator": "cutpaste", "count": 2, "resolution": [64, 48], "seed": 3,
            "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}], "backgrounds": [background.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        done = services.synth_job_create(project=project, spec=spec, user=users["owner"])
    waiting = services.synth_job_create(project=project, spec={**spec, "count": 3}, user=users["owner"], enqueue=False)
    html = page(client, users["viewer"], project).content.decode()
    image_ids = services.synth_job_images(synth_job=done)
    assert len(image_ids) == 2
    assert f'data-testid="synth-job-{done.pk}"' in html and f'data-testid="synth-job-{waiting.pk}"' in html
    assert 'data-status="succeeded"' in html and 'data-status="queued"' in html
    for image_id in image_ids:
        assert f'href="/projects/{project.pk}/images/{image_id}/label"' in html
        assert f'src="/api/images/{image_id}/thumbnail"' in html
    assert html.index(f"synth-job-{waiting.pk}") < html.index(f"synth-job-{done.pk}")  # newest first
    assert "Cancel" not in html  # a viewer cannot cancel
    owner_html = page(client, users["owner"], project).content.decode()
    assert owner_html.count('class="cancel"') == 1  # only the unfinished job


def test_project_page_links_to_the_synth_page(client, users, project):
    client.force_login(users["viewer"])
    assert f'href="/projects/{project.pk}/synth/"' in client.get(f"/projects/{project.pk}/").content.decode()
