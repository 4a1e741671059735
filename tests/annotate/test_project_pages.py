"""The project management pages' server side (no browser): access, write controls by role, hub
links, the label API's annotation count and mirror pairs, and the admin's names."""

from __future__ import annotations

import pytest
from django.test import Client

from annotate.models import Annotation

pytestmark = pytest.mark.django_db

PAGES = ("settings", "members", "labels")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(project, page: str) -> str:
    return f"/projects/{project.pk}/{page}/"


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_log_in_and_outsiders_get_404(users, project, page):
    response = Client().get(url(project, page))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client_for(users["outsider"]).get(url(project, page)).status_code == 404


@pytest.mark.parametrize("role", ["annotator", "reviewer", "viewer"])
def test_settings_page_is_for_owners_only(users, project, role):
    assert client_for(users[role]).get(url(project, "settings")).status_code == 403
    page = client_for(users["owner"]).get(url(project, "settings")).content.decode()
    assert 'data-testid="delete-confirm"' in page and 'data-testid="project-form"' in page
    assert f'<a href="/projects/{project.pk}/">Cats</a> › Settings' in page


@pytest.mark.parametrize("role, writes", [("owner", True), ("annotator", False), ("reviewer", False), ("viewer", False)])
def test_members_and_labels_pages_show_write_controls_to_owners_only(users, project, role, writes):
    members = client_for(users[role]).get(url(project, "members"))
    labels = client_for(users[role]).get(url(project, "labels"))
    assert members.status_code == labels.status_code == 200
    assert ('data-testid="member-add-form"' in members.content.decode()) == writes
    assert ('data-testid="label-create-form"' in labels.content.decode()) == writes
    assert members.context["config"]["canManage"] == labels.context["config"]["canManage"] == writes
    assert "› Members" in members.content.decode() and "› Labels" in labels.content.decode()


def test_members_page_says_what_each_role_may_do(users, project):
    html = client_for(users["viewer"]).get(url(project, "members")).content.decode()
    assert 'data-testid="role-table"' in html
    for role in ("owner", "annotator", "reviewer", "viewer"):
        assert f'data-role="{role}"' in html
    config = client_for(users["owner"]).get(url(project, "members")).context["config"]
    assert "add images" in config["roleSummaries"]["annotator"]
    assert "accept or reject" in config["roleSummaries"]["reviewer"]
    assert "add images" not in config["roleSummaries"]["viewer"]


def test_hub_links_the_pages_and_settings_only_for_owners(users, project, labels):
    owner = client_for(users["owner"]).get(f"/projects/{project.pk}/").content.decode()
    viewer = client_for(users["viewer"]).get(f"/projects/{project.pk}/").content.decode()
    for html in (owner, viewer):
        assert f'href="/projects/{project.pk}/labels/" data-testid="hub-labels">Labels <span class="count">3</span>' in html
        assert f'href="/projects/{project.pk}/members/" data-testid="hub-members">Members <span class="count">4</span>' in html
    assert 'data-testid="hub-settings"' in owner and 'data-testid="hub-settings"' not in viewer


def test_project_list_has_the_new_project_form(users, project):
    html = client_for(users["viewer"]).get("/").content.decode()
    assert 'data-testid="new-project-form"' in html and 'data-api="/api/projects/"' in html


def test_label_api_has_annotation_count_and_mirror_pairs(users, project, labels, add_images, api):
    image = add_images(1)[0]
    Annotation.objects.create(image=image, label=labels["cat"], kind="box", geometry={"x": 1, "y": 1, "w": 5, "h": 5})
    Annotation.objects.create(image=image, label=labels["cat"], kind="tag", geometry={})
    client = api(users["viewer"])
    listed = {row["name"]: row for row in client.get(f"/api/projects/{project.pk}/labels/").json()}
    assert listed["cat"]["annotation_count"] == 2 and listed["dog"]["annotation_count"] == 0
    assert listed["face"]["mirror_pairs"] == [[0, 1]] and listed["cat"]["mirror_pairs"] == []
    detail = client.get(f"/api/projects/{project.pk}/labels/{labels['cat'].pk}/").json()
    assert detail["annotation_count"] == 2
    owner = api(users["owner"])
    changed = owner.patch(f"/api/projects/{project.pk}/labels/{labels['face'].pk}/",
                          {"keypoint_names": ["nose", "Left_Eye", "right_eye"], "skeleton": []}, format="json").json()
    assert changed["mirror_pairs"] == [[1, 2]]
    refused = owner.patch(f"/api/projects/{project.pk}/labels/{labels['cat'].pk}/",
                          {"mirror_pairs": [[0, 1]], "annotation_count": 9}, format="json")
    assert refused.status_code == 200 and refused.json()["annotation_count"] == 2  # read-only fields are ignored


PROJECT_APPS = {"annotate", "augment", "datasets", "export", "jobs", "synth", "training"}


def test_admin_names_every_model_in_plain_english(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "classs" not in html.lower() and "Label classes" in html
    for name in ("Assets", "Synth jobs", "Jobs"):
        assert name in html
    assert admin_client.get("/admin/synth/asset/").status_code == 200
    assert admin_client.get("/admin/synth/synthjob/").status_code == 200
    assert admin_client.get("/admin/synth/asset/add/").status_code == 403
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403


def test_the_admin_registers_every_model_of_the_project(admin_client):
    from django.apps import apps
    from django.contrib import admin

    ours = [m for m in apps.get_models() if m.__module__.split(".")[0] in PROJECT_APPS and not m._meta.auto_created]
    assert len(ours) > 10
    missing = [m._meta.label for m in ours if not admin.site.is_registered(m)]
    assert missing == []
    for model in ours:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url


def test_the_favicon_is_linked_and_served(client, users):
    client.force_login(users["owner"])
    page = client.get("/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/favicon.svg")
    from django.contrib.staticfiles import finders

    found = finders.find("favicon.svg")
    assert found and open(found, encoding="utf-8").read().lstrip().startswith("<svg")
