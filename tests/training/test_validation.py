"""Every refused setting through the API: a 400 that names the field, and nothing queued (no job, no
run row)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from annotate import services as annotate_services
from annotate.geometry import mask_to_rle
from augment.models import Recipe
from datasets.models import DatasetVersion
from jobs.models import Job
from jobs.services import job_create
from tests.conftest import annotate, set_split
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def refused(api, users, project, django_capture_on_commit_callbacks):
    """``refused(field, **body)`` → the 400's message for ``field``, after checking nothing was queued."""

    def post(field: str, **body) -> str:
        jobs, runs = Job.objects.count(), TrainingRun.objects.count()
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", body, format="json")
        assert response.status_code == 400, response.content
        errors = response.json()
        assert field in errors, errors
        assert (Job.objects.count(), TrainingRun.objects.count(), len(callbacks)) == (jobs, runs, 0)
        message = errors[field]
        return " ".join(message) if isinstance(message, list) else str(message)

    return post


@pytest.fixture
def ok(classify_version):
    return {"version": classify_version.pk, "task": "classify", "epochs": 2, "input_size": 64}


@pytest.mark.parametrize("field, value, words", [
    ("task", "segment-everything", "Unknown task"),
    ("architecture", "resnet50", "Unknown architecture"),
    ("input_size", 16, "32..1024"),
    ("input_size", 100, "steps of 32"),
    ("input_size", 2048, "32..1024"),
    ("epochs", 0, "1..1000"),
    ("epochs", 1001, "1..1000"),
    ("batch_size", 0, "1..1024"),
    ("batch_size", 4096, "1..1024"),
    ("learning_rate", 0, "0 < rate ≤ 1"),
    ("learning_rate", -0.1, "0 < rate ≤ 1"),
    ("learning_rate", 1.5, "0 < rate ≤ 1"),
    ("schedule", "step", "Unknown schedule"),
    ("warmup_epochs", 2, "one less than the epochs"),
    ("seed", -1, "seed"),
])
def test_out_of_range_settings(refused, ok, field, value, words):
    assert words in refused(field, **{**ok, field: value})


@pytest.mark.parametrize("options, field, words", [
    ({"alpha": 0.1}, "options.alpha", "0.25..1.5"),
    ({"alpha": 2}, "options.alpha", "0.25..1.5"),
    ({"minimalistic": "maybe"}, "options.minimalistic", "true or false"),
    ({"bn_momentum": "1.5"}, "options.bn_momentum", "between 0 and 1"),
    ({"momentum": 0.2}, "options.momentum", "Unknown option"),
])
def test_bad_options(refused, ok, options, field, words):
    assert words in refused(field, **ok, options=options)


def test_efficientnet_has_no_mobilenet_options_and_does_not_detect(refused, ok, detect_version):
    message = refused("options.alpha", **{**ok, "architecture": "efficientnet_b0"}, options={"alpha": 0.5})
    assert "EfficientNet-B0 has no option 'alpha'" in message
    message = refused("architecture", version=detect_version.pk, task="detect", architecture="efficientnet_b0")
    assert "classify only" in message and "mobilenet_v3_small" in message


def test_version_must_be_this_projects_ready_and_with_train_and_test(refused, ok, users, make_user, add_images,
                                                                      build_version, labels, project):
    assert "required" in refused("version", task="classify")
    other = annotate_services.project_create(name="Other", created_by=make_user("someone"))
    add_images(2, target=other, seed=50)
    foreign = build_version(other)
    assert "is not a version of this project" in refused("version", **{**ok, "version": foreign.pk})
    assert "is not a version of this project" in refused("version", **{**ok, "version": 999999})

    building = DatasetVersion.objects.create(project=project, number=50, labels=[], params={})
    assert "is building" in refused("version", **{**ok, "version": building.pk})

    # A version with nothing in test (the images are all train).
    images = add_images(2, seed=70)
    for image in images:
        annotate(image, [(labels["cat"], "tag", {})])
    set_split(images, "train")
    only_train = build_version(project, image_sources=["upload"], split={"mode": "ratios", "train": 1.0, "val": 0.0,
                                                                         "test": 0.0})
    assert only_train.status == "ready", only_train.error
    assert "no images in its test split" in refused("version", **{**ok, "version": only_train.pk})


def test_classification_needs_exactly_one_tag_per_image(refused, project, labels, add_images, build_version):
    images = add_images(6, seed=200)
    splits = ["train", "train", "train", "test", "test", "val"]
    for image, split in zip(images, splits):
        set_split([image], split)
    annotate(images[0], [(labels["cat"], "tag", {})])
    annotate(images[1], [(labels["dog"], "tag", {})])
    annotate(images[2], [(labels["cat"], "tag", {}), (labels["dog"], "tag", {})])  # two classes
    annotate(images[3], [(labels["cat"], "tag", {})])
    annotate(images[4], [(labels["dog"], "box", {"x": 1, "y": 1, "w": 5, "h": 5})])  # no tag
    annotate(images[5], [(labels["dog"], "tag", {})])
    version = build_version(project)
    message = refused("version", version=version.pk, task="classify", input_size=64)
    assert "exactly one tag per image; 2 of the version's 6 images break the rule" in message
    assert "1 without a tag" in message and "1 with tags of several labels" in message
    assert "img_204.jpg" in message and "img_202.jpg" in message


def test_classification_needs_two_classes(refused, project, labels, add_images, build_version):
    images = add_images(2, seed=300)
    for image in images:
        annotate(image, [(labels["cat"], "tag", {})])
    set_split(images[:1], "train")
    set_split(images[1:], "test")
    version = build_version(project)
    assert "at least two classes" in refused("version", version=version.pk, task="classify", input_size=64)


def test_detection_needs_boxes_in_train_and_test(refused, classify_version, project, labels, add_images, build_version):
    message = refused("version", version=classify_version.pk, task="detect", input_size=64)
    assert "Detection needs objects with a box" in message and "has none" in message

    images = add_images(3, seed=400)
    annotate(images[0], [(labels["cat"], "box", {"x": 1, "y": 1, "w": 9, "h": 9})])
    annotate(images[1], [(labels["cat"], "tag", {})])
    set_split(images[:1], "train")
    set_split(images[1:], "test")
    version = build_version(project, image_sources=["upload"])
    message = refused("version", version=version.pk, task="detect", input_size=64)
    assert "the test split of this version holds none" in message


def test_a_version_of_masks_only_trains_a_detector(api, users, project, labels, add_images, build_version,
                                                   fake_worker, django_capture_on_commit_callbacks):
    images = add_images(2, seed=500)
    for image, split in zip(images, ["train", "test"]):
        mask = np.zeros((image.height, image.width), dtype=bool)
        mask[5:20, 8:30] = True
        annotate(image, [(labels["dog"], "mask", mask_to_rle(mask))])
        set_split([image], split)
    version = build_version(project)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                            {"version": version.pk, "task": "detect", "epochs": 1, "input_size": 64},
                                            format="json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.job.status == "succeeded" and run.labels == ["dog"]


def test_recipe_must_be_of_this_project(refused, ok, make_user):
    other = annotate_services.project_create(name="Elsewhere", created_by=make_user("someone"))
    recipe = Recipe.objects.create(project=other, name="noise", spec={"transforms": []})
    assert "is not a recipe of this project" in refused("recipe", **ok, recipe=recipe.pk)


def test_initial_weights_of_another_task_or_unfinished_or_unreadable(refused, ok, project, users, classify_version,
                                                                     tmp_path, fake_worker):
    def run(task: str, status: str, architecture: str = "mobilenet_v3_small") -> TrainingRun:
        job = job_create(kind="training.run", project=project, created_by=users["owner"])
        Job.objects.filter(pk=job.pk).update(status=status)
        made = TrainingRun.objects.create(project=project, version=classify_version, task=task, job=job,
                                          architecture=architecture, input_size=64, epochs=1, batch_size=1,
                                          learning_rate=0.1)
        made.folder.mkdir(parents=True)
        (made.folder / "best.keras").write_bytes(b"k")
        return made

    assert "another classify run" in refused("init_from", **ok, init_from=run("detect", "succeeded").pk)
    assert "is running" in refused("init_from", **ok, init_from=run("classify", "running").pk)
    assert "its weights cannot start" in refused(
        "init_from", **ok, init_from=run("classify", "succeeded", "mobilenet_v3_large").pk)
    assert "is not a training run of this project" in refused("init_from", **ok, init_from=999999)
    done = run("classify", "succeeded")
    (done.folder / "best.keras").unlink()
    assert "no best model file" in refused("init_from", **ok, init_from=done.pk)

    weights = tmp_path / "weights"
    assert "must be a Keras file" in refused("init_weights_file", **ok, init_weights_file="model.pt")
    assert "There is no file" in refused("init_weights_file", **ok, init_weights_file="missing.keras")
    outside = tmp_path / "elsewhere.keras"
    outside.write_bytes(b"k")
    assert "weights folder of this server" in refused("init_weights_file", **ok, init_weights_file=str(outside))
    assert "weights folder" in refused("init_weights_file", **ok, init_weights_file="../elsewhere.keras")
    unreadable = weights / "locked.keras"
    unreadable.write_bytes(b"k")
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        assert "cannot be read" in refused("init_weights_file", **ok, init_weights_file="locked.keras")
    (weights / "fine.keras").write_bytes(b"k")
    message = refused("init_weights_file", **ok, init_weights_file="fine.keras", init_from=run("classify", "succeeded").pk)
    assert "not both" in message


def test_every_problem_is_named_at_once(refused, api, users, project, classify_version):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", {
        "version": classify_version.pk, "task": "classify", "epochs": 0, "batch_size": 0, "learning_rate": 2,
        "input_size": 33}, format="json")
    assert response.status_code == 400
    assert {"epochs", "batch_size", "learning_rate", "input_size"} <= set(response.json())


def test_types_are_checked_by_the_serializer(api, users, project):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                        {"version": "first", "task": "classify"}, format="json")
    assert response.status_code == 400 and "version" in response.json()
    assert not Job.objects.exists()


def test_advanced_options_the_process_reads_are_checked_and_passed(refused, ok, api, users, project):
    assert "adam, adamw" in refused("options.optimizer", **ok, options={"optimizer": "sgd"})
    assert "0.0..0.95" in refused("options.dropout", **ok, options={"dropout": 1.5})
    assert "0.0..0.9999" in refused("options.ema", **ok, options={"ema": 1})
    assert "not sparse" in refused("options.ema", **ok, options={"ema": 0.99, "pruning": 0.5})
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                        {**ok, "options": {"optimizer": "adamw", "weight_decay": 0.01}}, format="json")
    assert response.status_code == 202
    assert response.json()["options"] == {"alpha": 1.0, "minimalistic": False, "bn_momentum": "auto",
                                          "class_weights": False, "optimizer": "adamw", "weight_decay": 0.01}
