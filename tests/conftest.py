"""Shared fixtures: users in every role, a project, API clients, images made on the fly, and a
real Celery worker in a subprocess."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from rest_framework.test import APIClient

from annotate import services
from annotate.imaging import check_image_bytes
from annotate.models import Image, Role
from annotate.uploads import images_store_checked
from datasets import services as dataset_services

REAL_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


# Fixtures through which a test reaches the database (and with it, for the worker tests, the broker).
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server"}


def uses_services(item) -> bool:
    """Whether the PostgreSQL/Redis leg should run ``item``: it reaches the database or the broker,
    and its time is not spent in model numerics (``numerics``: the queue and database path of a
    training run is covered there by tests/training/test_worker.py with the fake training process)."""
    if item.get_closest_marker("numerics") is not None:
        return False
    return item.get_closest_marker("django_db") is not None or bool(DATABASE_FIXTURES & set(item.fixturenames))


def pytest_collection_modifyitems(config, items):
    """Real-data tests skip with a reason when the datasets are absent, unless CI requires them;
    ``--services-only`` deselects the tests that touch neither the database nor the broker."""
    if config.getoption("--services-only"):
        kept, dropped = [], []
        for item in items:
            (kept if uses_services(item) else dropped).append(item)
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    if REAL_DATA.is_dir():
        return
    if os.environ.get("REQUIRE_REAL_DATA") == "1":
        raise pytest.UsageError(f"REQUIRE_REAL_DATA=1 but {REAL_DATA} does not exist.")
    skip = pytest.mark.skip(reason=f"real datasets not found at {REAL_DATA}")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


def image_bytes(width: int = 64, height: int = 48, *, seed: int = 0, fmt: str = "JPEG", quality: int = 90) -> bytes:
    """A random-noise image: different seeds give visually unrelated images."""
    rng = np.random.default_rng(seed)
    # Smooth noise (upsampled) so perceptual hashes are stable under re-encoding.
    small = rng.integers(0, 256, size=(max(height // 8, 2), max(width // 8, 2), 3), dtype=np.uint8)
    image = PILImage.fromarray(small).resize((width, height), PILImage.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: login throttles count failures there, and one test's
    failed logins (all from 127.0.0.1) must not throttle the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def users(make_user):
    return {name: make_user(name) for name in ("owner", "annotator", "reviewer", "viewer", "outsider")}


@pytest.fixture
def project(users):
    project = services.project_create(name="Cats", created_by=users["owner"])
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.VIEWER):
        services.membership_add(project=project, username=role.value, role=role)
    return project


@pytest.fixture
def labels(project):
    return {
        "cat": services.label_create(project=project, name="cat", color="#ff0000"),
        "dog": services.label_create(project=project, name="dog", color="#00ff00"),
        "face": services.label_create(
            project=project, name="face", keypoint_names=["left_eye", "right_eye", "nose"], skeleton=[[0, 1], [1, 2]]
        ),
    }


@pytest.fixture
def add_images(project, users):
    """Store ``n`` generated images in the project (through the real upload path); returns them."""

    def add(n: int = 1, *, width: int = 64, height: int = 48, seed: int = 0, target=None):
        checked = [(f"img_{seed + i}.jpg", check_image_bytes(image_bytes(width, height, seed=seed + i))) for i in range(n)]
        return images_store_checked(project=target or project, checked=checked, user=users["owner"], source="upload").created

    return add


@pytest.fixture
def api():
    """``api(user)`` → an APIClient logged in as ``user`` (None: anonymous)."""

    def client(user=None) -> APIClient:
        c = APIClient()
        if user is not None:
            c.force_authenticate(user)
        return c

    return client


@pytest.fixture
def rng():
    return random.Random(0)


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A real Celery worker process on the same database, broker and media folder as the test."""
    from django.db import connection

    from config.celery import app

    log = tmp_path / "worker.log"
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CELERY_TASK_ALWAYS_EAGER="0",
        WORKER_DB_NAME=str(connection.settings_dict["NAME"]),
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,render,train",
             "--pool", "solo", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"The Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    app.conf.task_always_eager = False
    try:
        yield proc
    finally:
        app.conf.task_always_eager = True
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(log.read_text(errors="replace")[-3000:])


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1):
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout}s waiting for {predicate}")


# --- dataset versions ---------------------------------------------------------------------
def annotate(image: Image, items: list[tuple], *, user=None) -> None:
    """Replace an image's annotations with ``(label, kind, geometry[, attributes[, source]][, group])``
    tuples (a trailing integer is the annotation's object group)."""
    payload = []
    for item in items:
        group = None
        if len(item) > 3 and isinstance(item[-1], int):
            group, item = item[-1], item[:-1]
        label, kind, geometry = item[:3]
        entry = {"label": label.pk, "kind": kind, "geometry": geometry, "group": group}
        if len(item) > 3:
            entry["attributes"] = item[3]
        if len(item) > 4:
            entry["source"] = item[4]
        payload.append(entry)
    image.refresh_from_db()
    cleaned = services.annotations_validate(image=image, items=payload)
    services.annotations_replace(image=image, expected_revision=image.revision, items=cleaned, user=user)


def set_split(images: list[Image], split: str) -> None:
    Image.objects.filter(pk__in=[i.pk for i in images]).update(split=split, split_locked=True)


@pytest.fixture
def build_version(django_capture_on_commit_callbacks, users):
    """``build_version(project, **params)`` → the built (refreshed) version; runs the real job."""

    def build(project, **params):
        name = params.pop("name", "")
        with django_capture_on_commit_callbacks(execute=True):
            version = dataset_services.version_create(project=project, created_by=users["owner"], name=name, params=params)
        version.refresh_from_db()
        return version

    return build
