"""The synth API: bad input is a 400 before anything is queued; permissions; a small job end to end."""

from __future__ import annotations

import pytest

from annotate.models import Annotation, Image
from jobs.models import Job
from synth.models import Asset, SynthJob

from .builders import CHARACTER, blender_spec, glb_triangle

pytestmark = pytest.mark.django_db


def post_job(client, project, spec):
    return client.post(f"/api/projects/{project.pk}/synth-jobs/", {"spec": spec}, format="json")


@pytest.mark.parametrize("extra", [{"resolution": [0, 96]}, {"count": 10**9}, {"camera_elevation": [40, 10]}])
def test_absurd_spec_is_400_and_queues_nothing(api, users, project, labels, extra):
    response = post_job(api(users["owner"]), project, blender_spec(labels["cat"].pk, **extra))
    assert response.status_code == 400, response.json()
    assert not SynthJob.objects.exists() and not Job.objects.exists()


def test_empty_asset_list_is_400(api, users, project, labels):
    spec = blender_spec(labels["cat"].pk, classes=[{"label": labels["cat"].pk, "assets": []}])
    response = post_job(api(users["owner"]), project, spec)
    assert response.status_code == 400 and "empty asset list" in str(response.json())
    assert not Job.objects.exists()


def test_permissions(api, users, project, labels):
    assert post_job(api(users["viewer"]), project, blender_spec(labels["cat"].pk)).status_code == 403
    assert post_job(api(users["outsider"]), project, blender_spec(labels["cat"].pk)).status_code == 404


@pytest.mark.parametrize("payload", [b"glTF\x02\x00\x00\x00\xff\xff\x00\x00garbage", b"\x00\x01\x02 not a model", b""])
def test_corrupt_or_unsupported_model_is_400(api, users, project, labels, payload):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/synth-assets/",
        {"file": SimpleUploadedFile("m.glb", payload), "kind": "model3d", "label": labels["cat"].pk}, format="multipart",
    )
    assert response.status_code == 400 and "file" in response.json()
    assert not Asset.objects.exists()


@pytest.mark.slow
def test_glb_that_blender_cannot_import_is_400_and_valid_one_201(api, users, project, labels):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api(users["owner"])
    url = f"/api/projects/{project.pk}/synth-assets/"
    bad = client.post(url, {"file": SimpleUploadedFile("m.glb", glb_triangle(corrupt_accessor=True)), "kind": "model3d",
                            "label": labels["cat"].pk}, format="multipart")
    assert bad.status_code == 400, bad.json()
    good = client.post(url, {"file": SimpleUploadedFile("m.glb", glb_triangle()), "kind": "model3d",
                             "label": labels["cat"].pk}, format="multipart")
    assert good.status_code == 201, good.json()
    assert good.json()["format"] == "glb" and good.json()["meta"]["meshes"] == 1


@pytest.mark.slow
def test_blender_job_end_to_end(api, users, project, django_capture_on_commit_callbacks):
    from annotate import services as annotate_services

    person = annotate_services.label_create(project=project, name="person", keypoint_names=CHARACTER)
    client = api(users["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = post_job(client, project, blender_spec(person.pk))
    assert response.status_code == 202, response.json()
    detail = client.get(f"/api/synth-jobs/{response.json()['id']}/").json()
    assert detail["status"] == "succeeded", detail
    assert detail["progress"] == 1.0 and len(detail["shards"]) == 2 and len(detail["first_image_ids"]) == 2
    images = Image.objects.filter(project=project, source="synthetic")
    assert images.count() == 2
    for image in images:
        assert image.meta["scene"]["width"] == 96 and image.meta["synth_job"] == detail["id"]
        kinds = sorted(Annotation.objects.filter(image=image).values_list("kind", flat=True))
        assert kinds == ["box", "keypoints", "mask"]
        assert set(Annotation.objects.filter(image=image).values_list("source", flat=True)) == {"synthetic"}
