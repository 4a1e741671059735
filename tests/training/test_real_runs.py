"""Both tasks end to end as a user runs them: POST a run to the API, a real Celery worker on the
train queue starts the real training process, and what comes back is checked against the files.

Tiny and learnable: coloured squares and stripes at 32 px for classification, one bright square
per image at 64 px for detection, a few epochs each.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image as PILImage

from annotate.imaging import check_image_bytes
from annotate.uploads import images_store_checked
from jobs.models import Job
from tests.conftest import annotate, set_split, wait_for
from training.models import TrainingRun
from training.protocol import RunSpec

pytestmark = [
    pytest.mark.worker, pytest.mark.slow, pytest.mark.numerics, pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning"),
]

SPLITS = ["train"] * 16 + ["val"] * 3 + ["test"] * 3  # per class


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _store(project, user, arrays: list[np.ndarray], prefix: str):
    checked = [(f"{prefix}_{i:03d}.png", check_image_bytes(_png(a))) for i, a in enumerate(arrays)]
    return images_store_checked(project=project, checked=checked, user=user, source="upload").created


def _run(api, users, project, body: dict, timeout: float) -> TrainingRun:
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/", body, format="json")
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get(pk=response.json()["id"])
    job = wait_for(lambda: Job.objects.filter(pk=run.job_id, status__in=Job.TERMINAL).first(), timeout=timeout, every=1)
    assert job.status == "succeeded", (job.error, job.log[-3000:])
    run.refresh_from_db()
    return run


def _artifacts(api, users, run) -> dict[str, dict]:
    listed = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/artifacts/").json()
    return {f"{a['format']}-{a['variant']}": a for a in listed}


def _download(api, users, artifact: dict, folder) -> tuple[zipfile.ZipFile, object]:
    response = api(users["viewer"]).get(artifact["download"])
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    model = next(n for n in archive.namelist() if n.endswith((".tflite", ".onnx")))
    archive.extract(model, folder)
    return archive, folder / model


def _test_samples(run):
    from training.worker.data import load_sample

    spec = RunSpec.read(run.folder)
    return spec, [load_sample(item, spec.input_size, spec.resize) for item in spec.items if item.split == "test"]


def test_a_classifier_through_the_api(request, api, users, project, labels, build_version, tmp_path):
    from export.model_formats.measure import run_file
    from training.worker.classify import batch_images, classification_metrics, iter_batches

    rng = np.random.default_rng(0)
    classes = {"cat": (220, 30, 30), "dog": (30, 40, 220)}
    for name, colour in classes.items():
        arrays = []
        for _ in SPLITS:
            image = rng.integers(70, 150, size=(40, 40, 3)).astype(np.uint8)
            y, x = rng.integers(0, 16, size=2)
            image[y:y + 24, x:x + 24] = colour
            arrays.append(image)
        images = _store(project, users["owner"], arrays, name)
        for image, split in zip(images, SPLITS):
            annotate(image, [(labels[name], "tag", {})])
            set_split([image], split)
    version = build_version(project)  # built here, before the worker starts (then jobs go to it)
    request.getfixturevalue("celery_worker")
    run = _run(api, users, project, {
        "version": version.pk, "task": "classify", "architecture": "mobilenet_v3_small", "input_size": 32,
        "epochs": 5, "batch_size": 8, "learning_rate": 0.002, "options": {"alpha": 0.5, "minimalistic": True},
    }, timeout=600)

    detail = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/").json()
    losses = [epoch["loss"] for epoch in detail["history"]]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert 1 <= detail["best_epoch"] <= 5
    artifacts = _artifacts(api, users, run)
    for key in ("tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8", "onnx-float32"):
        assert artifacts[key]["status"] == "ok", (key, artifacts[key]["error"])
        assert artifacts[key]["size_bytes"] > 0 and artifacts[key]["latency_ms"]["1"] > 0

    # Each file's stored metric is what that file itself scores on the test split.
    spec, samples = _test_samples(run)
    truth = np.asarray([s.label for s in samples])
    batches = [batch_images(b) for b in iter_batches(samples, 16)]
    outputs = {}
    for key in ("tflite-float32", "tflite-int8", "onnx-float32"):
        archive, path = _download(api, users, artifacts[key], tmp_path / key)
        assert archive.read("labels.txt").decode().split() == spec.labels
        assert json.loads(archive.read("model_card.json"))["task"] == "classify"
        outputs[key] = np.concatenate([out["scores"] for out in run_file(path, batches)])
        assert artifacts[key]["metrics"]["accuracy"] == classification_metrics(truth, outputs[key], spec.labels)["accuracy"]
    # The float files agree with each other (and with Keras, checked by the process itself).
    assert np.allclose(outputs["tflite-float32"], outputs["onnx-float32"], atol=1e-4)


def test_a_detector_through_the_api(request, api, users, project, labels, build_version, tmp_path):
    from export.model_formats.measure import run_file
    from training.worker.tasks import get_task

    rng = np.random.default_rng(1)
    arrays, boxes = [], []
    for _ in range(len(SPLITS)):
        image = rng.integers(0, 40, size=(64, 64, 3)).astype(np.uint8)
        side = int(rng.integers(16, 28))
        y, x = (int(v) for v in rng.integers(0, 64 - side, size=2))
        image[y:y + side, x:x + side] = (240, 240, 240)
        arrays.append(image)
        boxes.append({"x": x, "y": y, "w": side, "h": side})
    images = _store(project, users["owner"], arrays, "square")
    for image, box, split in zip(images, boxes, SPLITS):
        annotate(image, [(labels["cat"], "box", box)])
        set_split([image], split)
    version = build_version(project)  # built here, before the worker starts (then jobs go to it)
    request.getfixturevalue("celery_worker")
    run = _run(api, users, project, {
        "version": version.pk, "task": "detect", "architecture": "mobilenet_v3_small", "input_size": 64,
        "epochs": 4, "batch_size": 4, "learning_rate": 0.005, "options": {"alpha": 0.25, "minimalistic": True},
    }, timeout=900)

    detail = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/").json()
    losses = [epoch["loss"] for epoch in detail["history"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert "map50" in detail["metrics"] and "map" in detail["metrics"]
    artifacts = _artifacts(api, users, run)
    for key in ("tflite-float32", "tflite-int8", "onnx-float32"):
        assert artifacts[key]["status"] == "ok", (key, artifacts[key]["error"])

    spec, samples = _test_samples(run)
    task = get_task("detect")
    task.build(spec)
    for key in ("tflite-float32", "tflite-int8"):
        _, path = _download(api, users, artifacts[key], tmp_path / key)

        def predict(batch, path=path):
            (out,) = run_file(path, [batch])
            return out

        recomputed = task.evaluate(predict, samples, spec.labels)
        assert artifacts[key]["metrics"]["map50"] == pytest.approx(recomputed["map50"]), key
