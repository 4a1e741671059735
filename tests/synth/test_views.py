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
    spec = {
        "generator": "cutpaste",
        "count": 2,
        "resolution": [64, 48],
        "seed": 3,
        "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}],
        "backgrounds": [background.pk],
    }
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


def test_uploaders_get_a_delete_button_per_asset(client, users, project, labels, settings):
    from synth.models import Asset
    from synth.services import asset_upload

    from .builders import glb_triangle

    settings.SYNTH_PROBE_MODELS = False  # the page is under test here, not Blender's import
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    model = asset_upload(
        project=project,
        kind=Asset.Kind.MODEL3D,
        name="m.glb",
        data=glb_triangle(),
        label=labels["dog"],
        user=users["owner"],
    )
    for role in ("owner", "annotator"):
        html = page(client, users[role], project).content.decode()
        for asset in (cutout, background, model):
            assert f'data-testid="delete-asset-{asset.pk}"' in html
            assert f'data-asset-item="{asset.pk}"' in html
        assert html.count('class="asset-delete"') == 3
    for role in ("reviewer", "viewer"):
        html = page(client, users[role], project).content.decode()
        assert 'class="asset-delete"' not in html and "delete-asset-" not in html


def test_blender_ranges_prefilled_with_the_spec_defaults(client, users, project, labels):
    from synth.spec import BLENDER_RANGES, spec_clean

    response = page(client, users["annotator"], project)
    html = response.content.decode()
    offered = [f for group in response.context["range_groups"] for f in group["fields"]]
    names = {f["name"] for f in offered}
    assert names >= {
        "camera_distance",
        "camera_elevation",
        "camera_azimuth",
        "focal_length",
        "light_count",
        "light_power",
        "light_temperature",
        "hue_jitter",
        "roughness",
    }
    # What the form sends back untouched is exactly what the API fills in by itself.
    cleaned = spec_clean(
        {"classes": [{"label": labels["cat"].pk, "assets": ["builtin:cube"]}]},
        labels={labels["cat"].pk: {"name": "cat", "keypoint_names": []}},
        assets={},
    )
    for field in offered:
        assert [field["min"], field["max"]] == cleaned[field["name"]]
        assert (field["lowest"], field["highest"]) == tuple(BLENDER_RANGES[field["name"]][1:])
        assert f'data-range="{field["name"]}"' in html
        assert f'name="{field["name"]}_min" value="{field["min"]}"' in html
        assert f'name="{field["name"]}_max" value="{field["max"]}"' in html
    assert 'name="light_power_max" value="1000"' in html and 'max="1000000"' in html  # plain numbers, no 1e+06
    assert 'name="hue_jitter_min" value="-0.05"' in html
    assert 'data-generator="blender" data-testid="blender-ranges"' in html


def test_viewer_gets_no_range_fields(client, users, project):
    html = page(client, users["viewer"], project).content.decode()
    assert 'data-testid="blender-ranges"' not in html and "data-range=" not in html
