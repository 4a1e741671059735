"""The augment API: profiles, recipes (validated on save, 400 naming the field), cloning a profile,
the preview (deterministic by seed) and its page, and the corruption suite job."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image as PILImage

from annotate.models import Annotation, Image
from augment.models import Recipe
from jobs.models import Job

pytestmark = pytest.mark.django_db

SPEC = {"transforms": [{"name": "HorizontalFlip", "p": 0.5},
                       {"name": "GaussNoise", "params": {"std_range": [0.05, 0.1]}, "p": 0.5}]}


def make_recipe(project, name="r1", spec=None, **extra):
    return Recipe.objects.create(project=project, name=name, spec=spec or SPEC, **extra)


def annotate_image(image, labels):
    w, h = image.width, image.height
    Annotation.objects.create(image=image, label=labels["cat"], kind="box",
                              geometry={"x": 10.0, "y": 8.0, "w": 20.0, "h": 16.0})
    Annotation.objects.create(image=image, label=labels["dog"], kind="polygon",
                              geometry={"polygons": [[30.0, 5.0, 50.0, 5.0, 50.0, 30.0]]})
    Annotation.objects.create(image=image, label=labels["face"], kind="keypoints",
                              geometry={"points": [[12.0, 12.0, 2], [25.0, 12.0, 2], [0.0, 0.0, 0]]})
    assert w == 64 and h == 48


# --- profiles ---------------------------------------------------------------------------------
def test_profiles_are_listed_with_their_documentation(api, users):
    response = api(users["viewer"]).get("/api/augment/profiles/")
    assert response.status_code == 200
    slugs = {p["slug"] for p in response.json()}
    assert {"phone-daylight", "phone-low-light", "iot-low-res", "dashcam-motion", "indoor-tungsten",
            "cheap-lens"} <= slugs
    low = next(p for p in response.json() if p["slug"] == "phone-low-light")
    assert "Brooks" in low["rationale"] and low["spec"]["transforms"]
    assert len(low["severity_levels"]["exposure"]) == 5


def test_profile_detail_lists_each_severity(api, users):
    response = api(users["viewer"]).get("/api/augment/profiles/iot-low-res/")
    assert response.status_code == 200
    assert set(response.json()["corruptions"]) == {"1", "2", "3", "4", "5"}
    assert api(users["viewer"]).get("/api/augment/profiles/nope/").status_code == 404


def test_anonymous_users_see_nothing(api):
    assert api().get("/api/augment/profiles/").status_code in (401, 403)


def test_transform_catalogue(api, users):
    response = api(users["viewer"]).get("/api/augment/transforms/")
    names = {t["name"] for t in response.json()}
    assert {"GaussNoise", "PoissonGaussianNoise", "Vignetting", "PlanckianJitter"} <= names


# --- recipes ---------------------------------------------------------------------------------
def test_owner_creates_lists_updates_and_deletes_a_recipe(api, users, project):
    client = api(users["owner"])
    response = client.post(f"/api/projects/{project.pk}/recipes/", {"name": "night", "spec": SPEC}, format="json")
    assert response.status_code == 201, response.json()
    recipe_id = response.json()["id"]
    assert response.json()["spec"] == SPEC
    listed = client.get(f"/api/projects/{project.pk}/recipes/").json()
    assert [r["name"] for r in listed] == ["night"]
    new_spec = {"transforms": [{"name": "ToGray", "p": 1}]}
    response = client.patch(f"/api/recipes/{recipe_id}/", {"spec": new_spec}, format="json")
    assert response.status_code == 200 and response.json()["spec"] == new_spec
    assert client.delete(f"/api/recipes/{recipe_id}/").status_code == 204
    assert not Recipe.objects.exists()


def test_bad_recipe_gets_400_naming_the_field_and_changes_nothing(api, users, project):
    client = api(users["owner"])
    bad = {"transforms": [{"name": "HorizontalFlip"}, {"name": "Blur"},
                          {"name": "GaussNoise", "params": {"var_limit": [10, 50]}}]}
    response = client.post(f"/api/projects/{project.pk}/recipes/", {"name": "bad", "spec": bad}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "transforms[2].params.var_limit" in body
    assert "std_range" in body["transforms[2].params.var_limit"][0]
    assert not Recipe.objects.exists()
    recipe = make_recipe(project)
    response = client.patch(f"/api/recipes/{recipe.pk}/",
                            {"spec": {"transforms": [{"name": "GaussNoise", "params": {"std_range": [3, 4]}}]}},
                            format="json")
    assert response.status_code == 400 and "transforms[0].params.std_range" in response.json()
    recipe.refresh_from_db()
    assert recipe.spec == SPEC


def test_duplicate_recipe_name_is_a_400(api, users, project):
    make_recipe(project, name="same")
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/recipes/", {"name": "same", "spec": SPEC},
                                        format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_flip_pairs_must_name_the_projects_keypoints(api, users, project, labels):
    client = api(users["owner"])
    good = {"transforms": [], "flip_pairs": {"face": [["left_eye", "right_eye"]]}}
    assert client.post(f"/api/projects/{project.pk}/recipes/", {"name": "a", "spec": good},
                       format="json").status_code == 201
    bad = {"transforms": [], "flip_pairs": {"face": [["left_eye", "left_ear"]]}}
    response = client.post(f"/api/projects/{project.pk}/recipes/", {"name": "b", "spec": bad}, format="json")
    assert response.status_code == 400 and "flip_pairs.face[0]" in response.json()


def test_roles_and_visibility(api, users, project):
    recipe = make_recipe(project)
    body = {"name": "x", "spec": SPEC}
    assert api(users["outsider"]).get(f"/api/projects/{project.pk}/recipes/").status_code == 404
    assert api(users["outsider"]).get(f"/api/recipes/{recipe.pk}/").status_code == 404
    assert api(users["viewer"]).get(f"/api/recipes/{recipe.pk}/").status_code == 200
    assert api(users["viewer"]).post(f"/api/projects/{project.pk}/recipes/", body, format="json").status_code == 403
    assert api(users["annotator"]).patch(f"/api/recipes/{recipe.pk}/", body, format="json").status_code == 403
    assert api(users["viewer"]).delete(f"/api/recipes/{recipe.pk}/").status_code == 403
    assert api(users["owner"]).get("/api/recipes/999999/").status_code == 404


def test_recipe_list_queries_do_not_grow_with_recipes(api, users, project, django_assert_max_num_queries):
    for i in range(5):
        make_recipe(project, name=f"r{i}", created_by=users["owner"])
    with django_assert_max_num_queries(6):
        response = api(users["owner"]).get(f"/api/projects/{project.pk}/recipes/")
    assert len(response.json()) == 5


def test_clone_a_profile_into_an_editable_recipe(api, users, project):
    client = api(users["owner"])
    response = client.post(f"/api/projects/{project.pk}/recipes/from-profile", {"profile": "phone-low-light"},
                           format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["profile"] == "phone-low-light" and data["name"] == "Phone in low light"
    assert "PoissonGaussianNoise" in [t["name"] for t in data["spec"]["transforms"]]
    again = client.post(f"/api/projects/{project.pk}/recipes/from-profile", {"profile": "phone-low-light"},
                        format="json")
    assert again.status_code == 201 and again.json()["name"] == "Phone in low light (2)"
    spec = data["spec"]
    next(t for t in spec["transforms"] if t["name"] == "PoissonGaussianNoise")["params"]["exposure_range"] = [0.2, 0.4]
    assert client.patch(f"/api/recipes/{data['id']}/", {"spec": spec}, format="json").status_code == 200
    assert client.post(f"/api/projects/{project.pk}/recipes/from-profile", {"profile": "potato"},
                       format="json").status_code == 400
    assert api(users["viewer"]).post(f"/api/projects/{project.pk}/recipes/from-profile",
                                     {"profile": "cheap-lens"}, format="json").status_code == 403


# --- preview ---------------------------------------------------------------------------------
def test_preview_returns_samples_with_annotations_deterministic_by_seed(api, users, project, labels, add_images):
    image = add_images(1)[0]
    annotate_image(image, labels)
    recipe = make_recipe(project, spec={"transforms": [
        {"name": "HorizontalFlip", "p": 0.5}, {"name": "PoissonGaussianNoise", "p": 1}]})
    client = api(users["viewer"])
    url = f"/api/recipes/{recipe.pk}/preview"
    first = client.post(url, {"image": image.pk, "count": 8, "seed": 3}, format="json")
    assert first.status_code == 200, first.json()
    data = first.json()
    assert len(data["samples"]) == 8
    for sample in data["samples"]:
        assert sample["image"].startswith("data:image/jpeg;base64,")
        decoded = PILImage.open(io.BytesIO(base64.b64decode(sample["image"].split(",", 1)[1])))
        assert decoded.size == (sample["width"], sample["height"]) == (64, 48)
        kinds = sorted(a["kind"] for a in sample["annotations"])
        assert kinds == ["box", "keypoints", "polygon"]
    # Some samples are flipped: the box moves to the other side.
    xs = {s["annotations"][0]["geometry"]["x"] for s in data["samples"]}
    assert xs == {10.0, 34.0}
    again = client.post(url, {"image": image.pk, "count": 8, "seed": 3}, format="json").json()
    assert again == data
    other = client.post(url, {"image": image.pk, "count": 8, "seed": 4}, format="json").json()
    assert [s["image"] for s in other["samples"]] != [s["image"] for s in data["samples"]]


def test_preview_can_send_smaller_jpegs_of_the_same_samples(api, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    Annotation.objects.create(image=image, label=labels["cat"], kind="box",
                              geometry={"x": 40.0, "y": 30.0, "w": 120.0, "h": 90.0})
    recipe = make_recipe(project, spec={"transforms": [
        {"name": "HorizontalFlip", "p": 0.5}, {"name": "PoissonGaussianNoise", "p": 1}]})
    client = api(users["viewer"])
    url = f"/api/recipes/{recipe.pk}/preview"
    full = client.post(url, {"image": image.pk, "count": 3, "seed": 5}, format="json").json()
    small = client.post(url, {"image": image.pk, "count": 3, "seed": 5, "max_side": 100}, format="json").json()
    for big, little in zip(full["samples"], small["samples"], strict=True):
        decoded = PILImage.open(io.BytesIO(base64.b64decode(little["image"].split(",", 1)[1])))
        assert decoded.size == (100, 75) and little["display_scale"] == 0.25 and big["display_scale"] == 1.0
        # Augmented at full size either way: same geometry, same annotations, only the JPEG shrinks.
        assert (little["width"], little["height"]) == (big["width"], big["height"]) == (400, 300)
        assert little["annotations"] == big["annotations"] and little["seed"] == big["seed"]
        full_pixels = PILImage.open(io.BytesIO(base64.b64decode(big["image"].split(",", 1)[1])))
        assert full_pixels.size == (400, 300)
        # The same picture, smaller (the test image is random noise: compare colour means).
        means = [np.asarray(im, dtype=float).mean(axis=(0, 1)) for im in (full_pixels, decoded)]
        assert np.abs(means[0] - means[1]).max() < 3
    larger = client.post(url, {"image": image.pk, "count": 1, "seed": 5, "max_side": 1000}, format="json").json()
    assert larger["samples"][0]["display_scale"] == 1.0  # never enlarged
    assert client.post(url, {"image": image.pk, "max_side": 8}, format="json").status_code == 400


def test_preview_bad_requests(api, users, project, add_images, make_user):
    from annotate import services

    image = add_images(1)[0]
    recipe = make_recipe(project)
    client = api(users["owner"])
    url = f"/api/recipes/{recipe.pk}/preview"
    assert client.post(url, {"image": image.pk, "count": 0}, format="json").status_code == 400
    assert client.post(url, {"image": image.pk, "count": 100}, format="json").status_code == 400
    assert client.post(url, {"count": 2}, format="json").status_code == 400
    other_project = services.project_create(name="Other", created_by=users["owner"])
    foreign = add_images(1, seed=50, target=other_project)[0]
    assert client.post(url, {"image": foreign.pk}, format="json").status_code == 404
    assert api(users["outsider"]).post(url, {"image": image.pk}, format="json").status_code == 404
    # A recipe that cannot fit this image (a crop larger than it) is the caller's mistake: 400.
    big_crop = make_recipe(project, name="crop", spec={"transforms": [
        {"name": "RandomCrop", "params": {"height": 500, "width": 500}, "p": 1}]})
    response = client.post(f"/api/recipes/{big_crop.pk}/preview", {"image": image.pk}, format="json")
    assert response.status_code == 400 and "cannot be applied" in response.json()["detail"][0]


def test_preview_page_renders_for_members_only(client, users, project, add_images):
    add_images(1)
    recipe = make_recipe(project, profile="cheap-lens")
    client.force_login(users["viewer"])
    response = client.get(f"/recipes/{recipe.pk}/preview/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "preview-grid" in html and f"/api/recipes/{recipe.pk}/preview" in html and "preview.js" in html
    client.force_login(users["outsider"])
    assert client.get(f"/recipes/{recipe.pk}/preview/").status_code == 404


# --- corruption suite ------------------------------------------------------------------------------
def test_corruption_job_writes_a_deterministic_corrupted_split(api, users, project, labels, add_images,
                                                               django_capture_on_commit_callbacks):
    images = add_images(3)
    Image.objects.filter(pk__in=[i.pk for i in images]).update(split="test")
    annotate_image(images[0], labels)
    client = api(users["owner"])
    body = {"profile": "iot-low-res", "severity": 4, "split": "test", "seed": 1}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/projects/{project.pk}/corruptions", body, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.SUCCEEDED, (job.error, job.log)
    result = job.result
    assert result["images"] == 3 and result["severity"] == 4 and result["levels"]["jpeg_quality"] == 20
    folder = Path(settings.MEDIA_ROOT) / result["folder"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [m["source_image"] for m in manifest["items"]] == [i.pk for i in images]
    first = (folder / manifest["items"][0]["file"]).read_bytes()
    assert {a["kind"] for a in manifest["items"][0]["annotations"]} == {"box", "polygon", "keypoints"}
    # Members read the manifest and the images through the API; others get 404.
    url = result["manifest_url"]
    assert url == f"/api/projects/{project.pk}/corruptions/iot-low-res/4/test/1/"
    served = api(users["viewer"]).get(url)
    assert served.status_code == 200 and json.loads(b"".join(served.streaming_content)) == manifest
    image_response = api(users["viewer"]).get(f"{url}images/{images[0].pk}")
    assert image_response.status_code == 200 and b"".join(image_response.streaming_content) == first
    assert api(users["outsider"]).get(url).status_code == 404
    assert api(users["viewer"]).get(f"{url}images/999999").status_code == 404
    assert api(users["viewer"]).get(url.replace("/4/", "/5/")).status_code == 404
    # The same request again gives the same bytes; the project gained no images.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/projects/{project.pk}/corruptions", body, format="json")
    assert (folder / manifest["items"][0]["file"]).read_bytes() == first
    assert Image.objects.filter(project=project).count() == 3


@pytest.mark.parametrize("body, field", [
    ({"profile": "potato", "severity": 3}, "profile"),
    ({"profile": "iot-low-res", "severity": 6}, "severity"),
    ({"profile": "iot-low-res", "severity": 0}, "severity"),
    ({"profile": "iot-low-res", "severity": 3, "split": "everything"}, "split"),
])
def test_corruption_bad_requests_queue_nothing(api, users, project, body, field):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Job.objects.exists()


def test_corruption_of_an_empty_split_fails_the_job_readably(api, users, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions",
                                            {"profile": "cheap-lens", "severity": 2, "split": "val"}, format="json")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.FAILED and "no images" in job.error


def test_corruption_needs_the_manage_role(api, users, project):
    body = {"profile": "cheap-lens", "severity": 2}
    assert api(users["annotator"]).post(f"/api/projects/{project.pk}/corruptions", body,
                                        format="json").status_code == 403
    assert api(users["outsider"]).post(f"/api/projects/{project.pk}/corruptions", body,
                                       format="json").status_code == 404


# --- the version build's entry point -----------------------------------------------------------------
def test_train_images_augment_makes_copies_with_the_recipe_recorded(project, labels, add_images):
    from augment.offline import AugmentError, derive_seed
    from augment.services import train_images_augment

    images = add_images(3)
    Image.objects.filter(pk__in=[i.pk for i in images]).update(split="train")
    annotate_image(images[0], labels)
    recipe = make_recipe(project, profile="phone-low-light")
    train = list(Image.objects.filter(project=project, split="train").order_by("id"))
    out = list(train_images_augment(recipe=recipe, images=train, copies=2, seed=5))
    assert len(out) == 6
    assert out[0]["meta"]["recipe"] == {"id": recipe.pk, "name": "r1", "profile": "phone-low-light"}
    assert out[0]["meta"]["seed"] == derive_seed(5, images[0].pk, 0)
    assert {a["kind"] for a in out[0]["annotations"]} == {"box", "polygon", "keypoints"}
    # Validation and test images are never augmented: the whole call is refused.
    Image.objects.filter(pk=images[2].pk).update(split="val")
    mixed = list(Image.objects.filter(project=project).order_by("id"))
    with pytest.raises(AugmentError, match="Only train images"):
        train_images_augment(recipe=recipe, images=mixed, copies=1, seed=5)
    assert Image.objects.filter(project=project).count() == 3


def test_recipe_list_page_shows_recipes_and_documented_profiles(client, users, project):
    recipe = make_recipe(project, name="night shift", profile="phone-low-light")
    client.force_login(users["owner"])
    html = client.get(f"/projects/{project.pk}/recipes/").content.decode()
    assert "night shift" in html and f"/recipes/{recipe.pk}/preview/" in html
    assert "Brooks et al. 2019" in html and "clone-cheap-lens" in html
    client.force_login(users["viewer"])
    html = client.get(f"/projects/{project.pk}/recipes/").content.decode()
    assert "night shift" in html and "clone-cheap-lens" not in html  # viewers cannot clone
    client.force_login(users["outsider"])
    assert client.get(f"/projects/{project.pk}/recipes/").status_code == 404


def test_the_same_corruption_twice_at_once_is_a_409(api, users, project):
    body = {"profile": "cheap-lens", "severity": 2, "split": "test", "seed": 0}
    first = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions", body, format="json")
    assert first.status_code == 202  # queued: the task is only sent on commit, not here
    second = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions", body, format="json")
    assert second.status_code == 409 and second.json()["job"] == first.json()["id"]
    other = api(users["owner"]).post(f"/api/projects/{project.pk}/corruptions", {**body, "severity": 3}, format="json")
    assert other.status_code == 202
