"""Page access of the "Splits and health" page and the recipe editor, the split dry run, the
recipe validation endpoint and the typed transform catalogue (plain Django / DRF clients)."""

from __future__ import annotations

import pytest

from annotate.models import Image
from augment.models import Recipe

pytestmark = pytest.mark.django_db


def test_health_page_access(client, users, project):
    url = f"/projects/{project.pk}/health/"
    assert client.get(url).status_code == 302  # login first
    client.force_login(users["outsider"])
    assert client.get(url).status_code == 404
    client.force_login(users["viewer"])
    page = client.get(url).content.decode()
    assert 'data-testid="health-page"' in page and 'data-testid="split-open"' not in page
    assert f'href="/projects/{project.pk}/"' in page  # breadcrumbs
    client.force_login(users["owner"])
    assert 'data-testid="split-open"' in client.get(url).content.decode()
    hub = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="hub-health"' in hub and url in hub


def test_recipe_editor_access(client, users, project):
    recipe = Recipe.objects.create(project=project, name="noise", spec={"transforms": []})
    url = f"/recipes/{recipe.pk}/edit/"
    client.force_login(users["outsider"])
    assert client.get(url).status_code == 404
    client.force_login(users["viewer"])
    page = client.get(url).content.decode()
    assert 'data-testid="recipe-editor"' in page and 'data-testid="recipe-save"' not in page
    listing = client.get(f"/projects/{project.pk}/recipes/").content.decode()
    assert url in listing and 'data-testid="new-recipe"' not in listing
    client.force_login(users["owner"])
    assert 'data-testid="recipe-save"' in client.get(url).content.decode()
    assert 'data-testid="new-recipe"' in client.get(f"/projects/{project.pk}/recipes/").content.decode()


def test_split_dry_run_saves_nothing(api, users, project, add_images):
    add_images(6)
    owner = api(users["owner"])
    dry = owner.post(f"/api/projects/{project.pk}/split", {"train": 0.5, "val": 0.5, "test": 0, "dry_run": True},
                     format="json").json()
    assert dry["changed"] == 6 and sum(dry["counts"].values()) == 6 and dry["counts"]["unassigned"] == 0
    assert Image.objects.filter(project=project, split="unassigned").count() == 6
    done = owner.post(f"/api/projects/{project.pk}/split", {"train": 0.5, "val": 0.5, "test": 0}, format="json").json()
    assert done["counts"] == dry["counts"] and done["changed"] == 6
    assert api(users["viewer"]).post(f"/api/projects/{project.pk}/split", {"dry_run": True}, format="json").status_code == 403


def test_recipe_validate_and_preview_of_unsaved_spec(api, users, project, add_images):
    image = add_images(1)[0]
    viewer = api(users["viewer"])
    url = f"/api/projects/{project.pk}/recipes/validate"
    bad = viewer.post(url, {"spec": {"transforms": [{"name": "GaussNoise", "params": {"std_range": [0.1, 2]}}]}},
                      format="json")
    assert bad.status_code == 400 and "transforms[0].params.std_range" in bad.json()
    good = viewer.post(url, {"spec": {"transforms": [{"name": "HorizontalFlip", "p": 1}]}}, format="json")
    assert good.status_code == 200 and good.json() == {"valid": True}
    recipe = Recipe.objects.create(project=project, name="empty", spec={"transforms": []})
    preview = viewer.post(f"/api/recipes/{recipe.pk}/preview", {
        "image": image.pk, "count": 1, "spec": {"transforms": [{"name": "HorizontalFlip", "p": 1}]}}, format="json")
    assert preview.status_code == 200 and len(preview.json()["samples"]) == 1
    refused = viewer.post(f"/api/recipes/{recipe.pk}/preview", {
        "image": image.pk, "spec": {"transforms": [{"name": "Nope"}]}}, format="json")
    assert refused.status_code == 400 and "transforms[0].name" in refused.json()
    recipe.refresh_from_db()
    assert recipe.spec == {"transforms": []}  # previewing an edit saves nothing


def test_catalogue_describes_parameter_types(api, users):
    catalog = {t["name"]: t for t in api(users["viewer"]).get("/api/augment/transforms/").json()}
    noise = catalog["GaussNoise"]["params"]
    assert noise["std_range"] == {"default": [0.2, 0.44], "type": "range", "item": "number", "min": 0, "max": 1}
    assert noise["per_channel"]["type"] == "boolean"
    assert catalog["ImageCompression"]["params"]["compression_type"]["choices"] == ["jpeg", "webp"]
    assert catalog["MotionBlur"]["params"]["blur_limit"]["max"] == 255
    assert noise["p"] == {"default": 0.5, "type": "number", "min": 0, "max": 1}
