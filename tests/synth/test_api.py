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


def test_cancelling_a_waiting_synth_job_cancels_its_shards_and_keeps_what_was_made(api, users, project, labels):
    """Between shards (or before any worker came) the synth job is queued: the cancel ends it at
    once, its queued shards never start, and its result counts the images already stored."""
    from jobs.runner import run_job
    from synth.models import SynthShard
    from synth.services import shard_run, synth_job_create, synth_job_sync

    from .builders import cutpaste_assets

    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    spec = {"generator": "cutpaste", "count": 6, "shard_size": 2, "resolution": [64, 48], "seed": 1,
            "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}], "backgrounds": [background.pk]}
    synth_job = synth_job_create(project=project, spec=spec, user=users["owner"], enqueue=False)
    first, *rest = SynthShard.objects.filter(synth_job=synth_job).order_by("number")
    run_job(first.job_id, lambda ctx: shard_run(shard=first, ctx=ctx))  # one shard done, two waiting
    synth_job_sync(synth_job=synth_job)  # as the render task does after each shard
    assert Job.objects.get(pk=synth_job.job_id).status == Job.Status.QUEUED

    client = api(users["owner"])
    response = client.post(f"/api/jobs/{synth_job.job_id}/cancel")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "cancelled"
    parent = Job.objects.get(pk=synth_job.job_id)
    first.refresh_from_db()
    assert parent.result["images"] == 2 and sorted(parent.result["image_ids"]) == sorted(first.image_ids)
    assert [Job.objects.get(pk=s.job_id).status for s in rest] == [Job.Status.CANCELLED] * 2
    # A shard picked up later by a worker does nothing.
    run_job(rest[0].job_id, lambda ctx: shard_run(shard=rest[0], ctx=ctx))
    assert SynthShard.objects.get(pk=rest[0].pk).attempts == 0
    assert Image.objects.filter(project=project, source="synthetic").count() == 2
    assert client.post(f"/api/jobs/{synth_job.job_id}/cancel").status_code == 409


def test_an_asset_a_waiting_or_running_job_uses_cannot_be_deleted(api, users, project, labels):
    from synth.services import synth_job_cancel, synth_job_create

    from .builders import cutpaste_assets

    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    spare, _ = cutpaste_assets(project, labels["dog"], users["owner"])
    spec = {"generator": "cutpaste", "count": 2, "resolution": [64, 48],
            "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}], "backgrounds": [background.pk]}
    synth_job = synth_job_create(project=project, spec=spec, user=users["owner"], enqueue=False)
    client = api(users["owner"])
    for asset in (cutout, background):
        response = client.delete(f"/api/synth-assets/{asset.pk}/")
        assert response.status_code == 409 and f"Synth job {synth_job.pk} still uses" in response.json()["detail"]
    assert Asset.objects.filter(pk__in=[cutout.pk, background.pk]).count() == 2
    assert client.delete(f"/api/synth-assets/{spare.pk}/").status_code == 204  # no job uses it

    synth_job_cancel(synth_job=synth_job)  # once the job has ended, its assets may go
    assert client.delete(f"/api/synth-assets/{cutout.pk}/").status_code == 204
    assert client.delete(f"/api/synth-assets/{background.pk}/").status_code == 204
    assert not Asset.objects.filter(pk__in=[cutout.pk, background.pk]).exists()
