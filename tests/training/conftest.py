"""Training fixtures: dataset versions to train on, and the fake training process in place of the
real one (``TRAINING_WORKER_COMMAND``), each run's folder in the test's temporary folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from annotate.models import Image
from tests.conftest import annotate, set_split
from training.models import TrainingRun

FAKE_WORKER = Path(__file__).resolve().parent / "fake_worker.py"


@pytest.fixture
def fake_worker(settings, tmp_path):
    """Runs use the fake worker; ``fake_worker("--die-after", "2")`` passes it options."""
    settings.TRAINING_DIR = tmp_path / "training"
    settings.TRAINING_WEIGHTS_DIRS = [tmp_path / "weights"]
    (tmp_path / "weights").mkdir()
    # Eager jobs run inside the test's transaction, which holds SQLite's write lock: a heartbeat
    # from the runner's side thread would wait on it. The fake runs take well under a minute.
    settings.JOB_HEARTBEAT_SECONDS = 60

    def use(*options: str) -> None:
        settings.TRAINING_WORKER_COMMAND = [sys.executable, str(FAKE_WORKER), *options]

    use()
    return use


def _split_and_tag(images: list[Image], labels: list, splits: tuple[str, ...]) -> None:
    for i, image in enumerate(images):
        annotate(image, [(labels[i % len(labels)], "tag", {})])
    for split in set(splits):
        set_split([img for img, s in zip(images, splits) if s == split], split)


SPLITS = ("train", "train", "train", "train", "val", "val", "test", "test")


@pytest.fixture
def classify_version(project, labels, add_images, build_version):
    """A ready version of 8 images, each tagged cat or dog: 4 train, 2 val, 2 test."""
    images = add_images(len(SPLITS))
    _split_and_tag(images, [labels["cat"], labels["dog"]], SPLITS)
    return build_version(project)


@pytest.fixture
def detect_version(project, labels, add_images, build_version):
    """A ready version of 8 images with boxes (one of them two objects: a box, a mask-only dog)."""
    images = add_images(len(SPLITS), seed=100)
    for i, image in enumerate(images):
        label = labels["cat"] if i % 2 else labels["dog"]
        annotate(image, [(label, "box", {"x": 4 + i, "y": 5, "w": 20, "h": 15})])
    for split in set(SPLITS):
        set_split([img for img, s in zip(images, SPLITS) if s == split], split)
    return build_version(project)


@pytest.fixture
def start(api, users, project, django_capture_on_commit_callbacks):
    """``start(**body)`` → the API's answer to starting a run as the owner (the job runs eagerly)."""

    def post(user=None, **body):
        with django_capture_on_commit_callbacks(execute=True):
            response = api(user or users["owner"]).post(
                f"/api/projects/{project.pk}/training-runs/", body, format="json"
            )
        return response

    return post


def run_of(response) -> TrainingRun:
    run = TrainingRun.objects.select_related("job").get(pk=response.json()["id"])
    return run
