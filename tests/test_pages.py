import subprocess
import sys

import pytest


def test_login_logout_and_project_pages(client, users, project, labels, add_images):
    images = add_images(3)
    assert client.get("/").status_code == 302  # login required
    response = client.post("/accounts/login/", {"username": "viewer", "password": "pw-viewer"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "Cats" in page and f"/projects/{project.pk}/" in page
    detail = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="image-grid"' in detail
    assert all(f"/api/images/{i.pk}/thumbnail" in detail for i in images)
    assert ">unassigned</span> 3" in detail
    filtered = client.get(f"/projects/{project.pk}/", {"split": "train"}).content.decode()
    assert "No images match" in filtered
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_project_page_is_404_for_non_members(client, users, project):
    client.force_login(users["outsider"])
    assert client.get(f"/projects/{project.pk}/").status_code == 404


def test_wrong_password_shows_an_error(client, users):
    response = client.post("/accounts/login/", {"username": "viewer", "password": "wrong"})
    assert response.status_code == 200 and "did not match" in response.content.decode()


def test_swagger_and_schema(client):
    assert client.get("/api/docs/").status_code == 200
    schema = client.get("/api/schema/").content.decode()
    assert "/api/images/{image_id}/annotations" in schema


def test_production_settings_refuse_debug_and_default_secret():
    code = "import django; django.setup()"
    for env, message in ((({"DEBUG": "1", "SECRET_KEY": "x" * 50}), "DEBUG"), ({"DEBUG": "0"}, "SECRET_KEY")):
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True,
            env={"DJANGO_SETTINGS_MODULE": "config.settings.production", "PATH": "/usr/bin", **env},
        )
        assert result.returncode != 0 and message in result.stderr


@pytest.mark.django_db
def test_ensure_admin_and_demo_project(monkeypatch, capsys):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from annotate.models import Annotation, Project

    monkeypatch.setenv("ADMIN_PASSWORD", "s3cret-pass")
    call_command("ensure_admin")
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("s3cret-pass")
    call_command("ensure_admin")  # idempotent
    call_command("seed_demo", images=4)
    call_command("seed_demo", images=4)  # idempotent
    project = Project.objects.get()
    assert project.images.count() == 4
    assert Annotation.objects.filter(image__project=project, kind="box").count() >= 4
