"""What keypoint and segmentation runs read of a version: the 400s that name the problem, the run
spec's items (instances with their points, segments with their classes) and the OKS sigmas."""

from __future__ import annotations

import numpy as np
import pytest

from annotate import services as annotate_services
from annotate.geometry import mask_to_rle
from annotate.keypoints import COCO_SIGMAS, DEFAULT_SIGMA, oks_sigmas
from jobs.models import Job
from tests.conftest import annotate, set_split
from training.models import TrainingRun
from training.runspec import run_spec_build

pytestmark = pytest.mark.django_db

SPLITS = ("train", "train", "val", "test")
POINTS = [[10, 10, 2], [20, 10, 2], [15, 15, 1]]


def refuse(api, user, project, body) -> dict:
    jobs, runs = Job.objects.count(), TrainingRun.objects.count()
    response = api(user).post(f"/api/projects/{project.pk}/training-runs/", body, format="json")
    assert response.status_code == 400, response.content
    assert (Job.objects.count(), TrainingRun.objects.count()) == (jobs, runs)
    return response.json()


@pytest.fixture
def pose_version(project, labels, add_images, build_version):
    """Four images: each a face with a box and keypoints (one group); image 2 also a face box
    without points, image 3 a points-only face."""
    images = add_images(len(SPLITS), seed=700)
    face = labels["face"]
    for i, image in enumerate(images):
        items = [(face, "box", {"x": 5, "y": 5, "w": 22, "h": 14}, 1),
                 (face, "keypoints", {"points": [[x + i, y, v] for x, y, v in POINTS]}, 1)]
        if i == 2:
            items.append((face, "box", {"x": 40, "y": 20, "w": 10, "h": 10}))
        if i == 3:
            items.append((face, "keypoints", {"points": [[40, 30, 2], [50, 36, 2], [0, 0, 0]]}))
        if i == 1:  # labeled points on a line: the square on them
            items.append((face, "keypoints", {"points": [[40, 30, 2], [50, 30, 2], [0, 0, 0]]}))
        annotate(image, items)
    for split in set(SPLITS):
        set_split([img for img, s in zip(images, SPLITS) if s == split], split)
    return build_version(project)


def test_keypoint_runs_are_refused_without_keypoint_instances(api, users, project, labels, classify_version):
    errors = refuse(api, users["owner"], project, {"version": classify_version.pk, "task": "keypoints", "input_size": 64})
    assert "no instance of 'face' with a labeled point" in errors["version"][0]
    errors = refuse(api, users["owner"], project, {
        "version": classify_version.pk, "task": "keypoints", "input_size": 64, "options": {"keypoint_label": "cat"},
    })
    assert "'cat' is not a keypoint class" in errors["version"][0] and "'face'" in errors["version"][0]


def test_keypoint_instances_must_be_in_train_and_test(api, users, project, labels, add_images, build_version):
    images = add_images(2, seed=800)
    annotate(images[0], [(labels["face"], "keypoints", {"points": POINTS})])
    annotate(images[1], [(labels["cat"], "tag", {})])
    set_split(images[:1], "train")
    set_split(images[1:], "test")
    version = build_version(project)
    errors = refuse(api, users["owner"], project, {"version": version.pk, "task": "keypoints", "input_size": 64})
    assert "the test split" in errors["version"][0] and "holds none" in errors["version"][0]


def test_task_options_belong_to_their_task(api, users, project, pose_version):
    errors = refuse(api, users["owner"], project, {
        "version": pose_version.pk, "task": "keypoints", "input_size": 64, "options": {"segment_output": "scores"},
    })
    assert "segment_output is an option of segment runs" in errors["options.segment_output"][0]
    errors = refuse(api, users["owner"], project, {
        "version": pose_version.pk, "task": "keypoints", "input_size": 64, "options": {"keypoint_refine": "yes"},
    })
    assert "keypoint_refine is true or false" in errors["options.keypoint_refine"][0]
    errors = refuse(api, users["owner"], project, {
        "version": pose_version.pk, "task": "keypoints", "input_size": 64,
        "options": {"pruning": {"sparsity": 1.5, "speed": 3}},
    })
    assert "sparsity" in errors["options.pruning.sparsity"][0] and "Unknown pruning setting" in errors["options.pruning.speed"][0]
    errors = refuse(api, users["owner"], project, {
        "version": pose_version.pk, "task": "keypoints", "input_size": 64,
        "options": {"pruning": {"sparsity": 0.5, "begin": 0.6, "end": 0.5}},
    })
    assert "end > begin" in errors["options.pruning.end"][0]


def test_the_keypoint_run_spec_has_each_instance_with_its_points(api, users, project, labels, pose_version, fake_worker,
                                                                 django_capture_on_commit_callbacks):
    labels["face"].keypoint_sigmas = [0.1, 0.1, 0.2]
    labels["face"].save()
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", {
            "version": pose_version.pk, "task": "keypoints", "input_size": 64, "epochs": 1,
            "options": {"pruning": 0.5},
        }, format="json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.options["pruning"] == {"sparsity": 0.5, "begin": 0.0, "end": 0.8}
    spec = run_spec_build(run)
    assert spec.labels == ["face"]
    assert spec.options["keypoint_names"] == ["left_eye", "right_eye", "nose"]
    assert spec.options["skeleton"] == [[0, 1], [1, 2]] and spec.options["sigmas"] == [0.1, 0.1, 0.2]
    first = spec.items[0]
    assert first.boxes == [[5.0, 5.0, 22.0, 14.0, 0]]
    assert first.keypoints == [[10.0, 10.0, 2.0, 20.0, 10.0, 2.0, 15.0, 15.0, 1.0]]
    # the box without points is an instance with every point unlabeled; the points-only face has
    # the box of its labeled points
    assert [9 * [0.0] in item.keypoints for item in spec.items] == [False, False, True, False]
    assert spec.items[3].boxes[1] == [40.0, 30.0, 10.0, 6.0, 0]
    assert spec.items[3].keypoints[1] == [40.0, 30.0, 2.0, 50.0, 36.0, 2.0, 0.0, 0.0, 0.0]
    assert spec.items[1].boxes[1] == [40.0, 25.0, 10.0, 10.0, 0]


@pytest.fixture
def mask_version(project, labels, add_images, build_version):
    """Four images, each a cat mask (and a box of its own); image 1 also a dog polygon."""
    images = add_images(len(SPLITS), seed=900)
    for i, image in enumerate(images):
        mask = np.zeros((image.height, image.width), dtype=bool)
        mask[10:20, 10 + i:30] = True
        items = [(labels["cat"], "mask", mask_to_rle(mask)), (labels["cat"], "box", {"x": 1, "y": 1, "w": 5, "h": 5})]
        if i == 1:
            items.append((labels["dog"], "polygon", {"polygons": [[40, 5, 60, 5, 60, 25]]}))
        annotate(image, items)
    for split in set(SPLITS):
        set_split([img for img, s in zip(images, SPLITS) if s == split], split)
    return build_version(project)


def test_segment_runs_are_refused_without_masks_or_polygons(api, users, project, detect_version):
    errors = refuse(api, users["owner"], project, {"version": detect_version.pk, "task": "segment", "input_size": 64})
    assert "Segmentation needs masks or polygons" in errors["version"][0] and "has none" in errors["version"][0]


def test_the_segment_run_spec_paints_masks_and_polygons(api, users, project, mask_version, fake_worker,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", {
            "version": mask_version.pk, "task": "segment", "input_size": 64, "epochs": 1,
            "options": {"segment_output": "scores"},
        }, format="json")
    assert response.status_code == 202, response.content
    spec = run_spec_build(TrainingRun.objects.get(pk=response.json()["id"]))
    assert spec.labels == ["background", "cat", "dog"] and spec.options["segment_output"] == "scores"
    assert [[s[0], s[1]] for s in spec.items[1].segments] == [[1, "mask"], [2, "polygon"]]
    assert all(item.segments is not None and not item.boxes for item in spec.items)
    assert spec.items[1].segments[1][2] == {"polygons": [[40, 5, 60, 5, 60, 25]]}


def test_oks_sigmas_default_to_cocos_and_are_editable_in_the_api(api, users, project, labels):
    assert oks_sigmas(["nose", "Left_Eye", "tail"]) == [COCO_SIGMAS["nose"], COCO_SIGMAS["left_eye"], DEFAULT_SIGMA]
    url = f"/api/projects/{project.pk}/labels/{labels['face'].pk}/"
    body = api(users["owner"]).get(url).json()
    assert body["keypoint_sigmas"] == [] and body["oks_sigmas"] == [0.025, 0.025, 0.026]
    response = api(users["owner"]).patch(url, {"keypoint_sigmas": [0.05, 0.05]}, format="json")
    assert response.status_code == 400 and "2 sigmas for 3 keypoints" in str(response.json())
    response = api(users["owner"]).patch(url, {"keypoint_sigmas": [0.05, 0.05, 0]}, format="json")
    assert response.status_code == 400 and "(0, 1]" in str(response.json())
    response = api(users["owner"]).patch(url, {"keypoint_sigmas": [0.05, 0.06, 0.07]}, format="json")
    assert response.status_code == 200 and response.json()["oks_sigmas"] == [0.05, 0.06, 0.07]
    labels["face"].refresh_from_db()
    assert labels["face"].keypoint_sigmas == [0.05, 0.06, 0.07]


def test_oks_sigmas_are_checked_on_the_admin_form(client, admin_user, project, labels):
    client.force_login(admin_user)
    face = labels["face"]
    response = client.post(f"/admin/annotate/labelclass/{face.pk}/change/", {
        "project": project.pk, "name": "face", "color": "#e6194b",
        "keypoint_names": '["left_eye", "right_eye", "nose"]', "skeleton": "[[0, 1]]", "keypoint_sigmas": "[0.1]",
    })
    assert response.status_code == 200 and "1 sigmas for 3 keypoints" in response.content.decode()
    response = client.post(f"/admin/annotate/labelclass/{face.pk}/change/", {
        "project": project.pk, "name": "face", "color": "#e6194b",
        "keypoint_names": '["left_eye", "right_eye", "nose"]', "skeleton": "[[0, 1]]", "keypoint_sigmas": "[0.1, 0.2, 0.3]",
    })
    assert response.status_code == 302
    face.refresh_from_db()
    assert face.keypoint_sigmas == [0.1, 0.2, 0.3]
    annotate_services.label_update(label=face, keypoint_sigmas=[])
    face.refresh_from_db()
    assert face.keypoint_sigmas == []
