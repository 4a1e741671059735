"""The run page and the runs list: members see them, outsiders get 404; the project page and the
version page link to them; the page's module is served and loads nothing from elsewhere."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders

from .conftest import run_of

pytestmark = pytest.mark.django_db


def test_run_page_for_members_and_404_for_outsiders(client, users, start, fake_worker, classify_version):
    run = run_of(start(version=classify_version.pk, task="classify", epochs=2, input_size=64))
    client.force_login(users["viewer"])
    page = client.get(f"/training-runs/{run.pk}/").content.decode()
    assert 'data-testid="training-run"' in page and f'data-api="/api/training-runs/{run.pk}/"' in page
    assert "val_accuracy" in page and 'class="best"' in page
    assert f"/api/training-runs/{run.pk}/plots/learning_curves" in page
    assert "/api/artifacts/" in page and "int8" in page
    assert "js/training/run_page.js" in page and "https://" not in page
    assert "<li>The fake trained on nothing.</li>" in page and "per_class" not in page  # tables are for plots
    assert "data-cancel-api" not in page  # viewers do not cancel
    client.force_login(users["outsider"])
    assert client.get(f"/training-runs/{run.pk}/").status_code == 404
    assert client.get(f"/projects/{run.project_id}/training-runs/").status_code == 404


def test_owner_sees_cancel_on_an_unfinished_run(client, users, api, project, classify_version, fake_worker):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                        {"version": classify_version.pk, "task": "classify", "input_size": 64},
                                        format="json")  # queued: its job is not sent in this test
    run = run_of(response)
    client.force_login(users["owner"])
    page = client.get(f"/training-runs/{run.pk}/").content.decode()
    assert f'data-cancel-api="/api/jobs/{run.job_id}/cancel"' in page and 'class="cancel"' in page


def test_list_page_links_and_start_form(client, users, start, fake_worker, classify_version, project):
    run = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))
    client.force_login(users["owner"])
    listing = client.get(f"/projects/{project.pk}/training-runs/").content.decode()
    assert f"/training-runs/{run.pk}/" in listing and 'id="train-form"' in listing
    filtered = client.get(f"/projects/{project.pk}/training-runs/", {"version": classify_version.pk}).content.decode()
    assert f'<option value="{classify_version.pk}" selected>' in filtered
    client.force_login(users["viewer"])
    assert 'id="train-form"' not in client.get(f"/projects/{project.pk}/training-runs/").content.decode()
    assert f"/projects/{project.pk}/training-runs/" in client.get(f"/projects/{project.pk}/").content.decode()
    versions = client.get(f"/projects/{project.pk}/versions/").content.decode()
    assert f"/projects/{project.pk}/training-runs/?version={classify_version.pk}" in versions


def test_the_modules_exist_and_use_the_shared_http_helper():
    for name in ("run_page.js", "run_list.js"):
        path = finders.find(f"js/training/{name}")
        assert path, name
        source = open(path).read()
        assert 'from "../common/http.js"' in source and "http://" not in source and "https://" not in source
