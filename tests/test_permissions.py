"""Walks every API endpoint in the URL configuration for every kind of user.

New endpoints are picked up automatically: each gets at least the baseline rules (anonymous is
refused, a non-member sees 404, a viewer may read but not write, the owner may do anything);
RULES states the exact capability where it is finer than that.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from annotate.models import Image
from annotate.permissions import Can, role_allows
from augment.models import Recipe
from augment.services import corruption_build
from datasets.services import version_build, version_create
from jobs.models import Job
from jobs.services import job_create
from synth.services import asset_upload, synth_job_create
from tests.conftest import image_bytes
from training.models import ModelArtifact, RobustnessReport, TrainingRun

PUBLIC, AUTHENTICATED = "public", "authenticated"
METHODS = ("get", "post", "put", "patch", "delete")

RULES: dict[tuple[str, str], str] = {
    ("api-token", "post"): PUBLIC,
    ("api-schema", "get"): PUBLIC,
    ("api-docs", "get"): PUBLIC,
    ("api-redoc", "get"): PUBLIC,
    ("project-list-api", "get"): AUTHENTICATED,
    ("project-list-api", "post"): AUTHENTICATED,
    ("job-list", "get"): AUTHENTICATED,
    ("job-detail", "get"): Can.VIEW,
    ("job-cancel", "post"): Can.MANAGE,  # whoever started it (here the owner) or an owner
    ("project-detail-api", "get"): Can.VIEW,
    ("project-detail-api", "patch"): Can.MANAGE,
    ("project-detail-api", "delete"): Can.MANAGE,
    ("member-list", "get"): Can.VIEW,
    ("member-list", "post"): Can.MANAGE,
    ("member-detail", "patch"): Can.MANAGE,
    ("member-detail", "delete"): Can.MANAGE,
    ("label-list", "get"): Can.VIEW,
    ("label-list", "post"): Can.MANAGE,
    ("label-detail", "get"): Can.VIEW,
    ("label-detail", "patch"): Can.MANAGE,
    ("label-detail", "delete"): Can.MANAGE,
    ("image-list", "get"): Can.VIEW,
    ("image-list", "post"): Can.UPLOAD,
    ("image-zip-upload", "post"): Can.UPLOAD,
    ("project-split", "post"): Can.MANAGE,
    ("project-health", "get"): Can.VIEW,
    ("image-detail", "get"): Can.VIEW,
    ("image-detail", "patch"): Can.ANNOTATE,
    ("image-detail", "delete"): Can.MANAGE,
    ("image-file", "get"): Can.VIEW,
    ("image-thumbnail", "get"): Can.VIEW,
    ("image-annotations", "get"): Can.VIEW,
    ("image-annotations", "put"): Can.ANNOTATE,
    ("image-review", "post"): Can.REVIEW,
    ("project-import", "post"): Can.MANAGE,
    ("augment-profile-list", "get"): AUTHENTICATED,
    ("augment-profile-detail", "get"): AUTHENTICATED,
    ("augment-transform-list", "get"): AUTHENTICATED,
    ("recipe-list", "get"): Can.VIEW,
    ("recipe-list", "post"): Can.MANAGE,
    ("recipe-from-profile", "post"): Can.MANAGE,
    ("recipe-detail", "get"): Can.VIEW,
    ("recipe-detail", "put"): Can.MANAGE,
    ("recipe-detail", "patch"): Can.MANAGE,
    ("recipe-detail", "delete"): Can.MANAGE,
    ("recipe-preview", "post"): Can.VIEW,
    ("recipe-validate", "post"): Can.VIEW,  # checks a spec, saves nothing
    ("corruption-build", "post"): Can.MANAGE,
    ("corruption-manifest", "get"): Can.VIEW,
    ("corruption-image", "get"): Can.VIEW,
    ("version-list", "get"): Can.VIEW,
    ("version-list", "post"): Can.MANAGE,
    ("version-detail", "get"): Can.VIEW,
    ("version-detail", "delete"): Can.MANAGE,
    ("version-images", "get"): Can.VIEW,
    ("version-export", "get"): Can.VIEW,
    ("version-export-formats", "get"): Can.VIEW,
    ("version-image-file", "get"): Can.VIEW,
    ("synth-asset-list", "get"): Can.VIEW,
    ("synth-asset-list", "post"): Can.UPLOAD,
    ("synth-asset-detail", "get"): Can.VIEW,
    ("synth-asset-detail", "delete"): Can.UPLOAD,
    ("synth-job-list", "get"): Can.VIEW,
    ("synth-job-list", "post"): Can.UPLOAD,
    ("synth-job-detail", "get"): Can.VIEW,
    ("training-run-list", "get"): Can.VIEW,
    ("training-run-list", "post"): Can.MANAGE,
    ("training-run-detail", "get"): Can.VIEW,
    ("training-run-artifacts", "get"): Can.VIEW,
    ("training-run-plot", "get"): Can.VIEW,
    ("training-run-robustness", "get"): Can.VIEW,
    ("training-run-robustness", "post"): Can.MANAGE,
    ("training-run-robustness-plot", "get"): Can.VIEW,
    ("artifact-download", "get"): Can.VIEW,
}
ROLES = ("viewer", "annotator", "reviewer", "owner")  # checked in this order: destructive owner last


def api_endpoints() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
                if route.startswith("api/") and view is not None:
                    found.extend((route, pattern.name, m) for m in METHODS if hasattr(view, m))

    walk(get_resolver().url_patterns, "")
    return found


ENDPOINTS = api_endpoints()


def test_the_walk_finds_the_core_endpoints():
    names = {name for _, name, _ in ENDPOINTS}
    assert {"image-annotations", "project-split", "job-cancel", "image-file", "member-detail"} <= names


@pytest.fixture
def objects(users, project, labels, add_images):
    image = add_images(1)[0]
    job = job_create(kind="test", created_by=users["owner"], project=project)
    recipe = Recipe.objects.create(project=project, name="noise", spec={"transforms": []})
    Image.objects.filter(pk=image.pk).update(split="test")
    corruption_build(project=project, profile="phone-low-light", severity=3, split="test", seed=0)
    version = version_create(project=project, created_by=users["owner"], params={"include_unannotated": True})
    version_build(version=version)
    background = asset_upload(project=project, kind="background", name="bg.jpg", data=image_bytes(seed=5),
                              label=None, user=users["owner"])
    synth_job = synth_job_create(project=project, user=users["owner"], enqueue=False, spec={
        "generator": "blender", "count": 1, "resolution": [64, 48], "backgrounds": [background.pk],
        "classes": [{"label": labels["cat"].pk, "assets": ["builtin:cube"]}]})
    run = TrainingRun.objects.create(project=project, version=version, task="classify", architecture="mobilenet_v3_small",
                                     input_size=64, epochs=1, batch_size=1, learning_rate=0.1, labels=["cat"],
                                     plots={"learning_curves": "plots/learning_curves.png"}, job=job)
    (run.folder / "plots").mkdir(parents=True, exist_ok=True)
    (run.folder / "plots" / "learning_curves.png").write_bytes(image_bytes(fmt="PNG"))
    (run.folder / "model.tflite").write_bytes(b"TFL3")
    artifact = ModelArtifact.objects.create(run=run, format="tflite", variant="float32", path="model.tflite")
    (run.folder / "plots" / "robustness-1.png").write_bytes(image_bytes(fmt="PNG"))
    report_job = job_create(kind="test", created_by=users["owner"], project=project)
    Job.objects.filter(pk=report_job.pk).update(status=Job.Status.SUCCEEDED)
    report = RobustnessReport.objects.create(run=run, variant="tflite-float32", profiles=["phone-low-light"],
                                             severities=[1], plot="plots/robustness-1.png", job=report_job)
    return {
        "run_id": run.pk, "artifact_id": artifact.pk, "report_id": report.pk, "plot": "learning_curves",
        "project_id": project.pk, "image_id": image.pk, "label_id": labels["cat"].pk,
        "username": "viewer", "job_id": job.pk, "recipe_id": recipe.pk, "version_id": version.pk,
        "asset_id": background.pk, "synth_job_id": synth_job.pk,
        "slug": "phone-low-light", "profile": "phone-low-light", "severity": 3, "split": "test", "seed": 0,
        "index": 0,
    }


def concrete(route: str, objects: dict) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in objects:
            pytest.fail(f"The permission walk needs an object for <{name}> in {route}: add it to the fixture.")
        return str(objects[name])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


def call(user, method: str, url: str):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return getattr(client, method)(url, {}, format="json")


@pytest.mark.parametrize("route, name, method", ENDPOINTS, ids=[f"{m.upper()} {r}" for r, _, m in ENDPOINTS])
def test_endpoint_permissions(route, name, method, users, objects):
    url = concrete(route, objects)
    rule = RULES.get((name, method))
    project_scoped = rule not in (PUBLIC, AUTHENTICATED) and ("<" in route)

    anonymous = call(None, method, url).status_code
    if rule == PUBLIC:
        assert anonymous not in (401, 403), f"{method} {url} should be public"
        return
    assert anonymous in (401, 403), f"anonymous {method} {url} got {anonymous}"
    if project_scoped:
        outsider = call(users["outsider"], method, url).status_code
        assert outsider == 404, f"non-member {method} {url} got {outsider}"
    expected = {}
    for role in ROLES:
        if rule == AUTHENTICATED:
            expected[role] = True
        elif rule is None:  # baseline for endpoints without an explicit rule
            expected[role] = True if role == "owner" else (method == "get" if role == "viewer" else None)
        else:
            expected[role] = role_allows(role, Can(rule))
    # Refusals first: an allowed DELETE must not remove the object before a refusal is checked.
    gone = False
    for role in sorted(ROLES, key=lambda r: (expected[r] is True, ROLES.index(r))):
        allowed = expected[role]
        if allowed is None:
            continue
        status = call(users[role], method, url).status_code
        if allowed and gone:  # an earlier allowed role deleted it
            assert status == 404, f"{role} {method} {url} got {status} after the object was deleted"
        elif allowed:
            assert status not in (401, 403, 404), f"{role} {method} {url} got {status}"
            gone = method == "delete" and status == 204
        else:
            assert status == 403, f"{role} {method} {url} got {status}, expected 403"
