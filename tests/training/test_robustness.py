"""The robustness report of a finished run: POST → 202 with the report and its job; the job corrupts
the version's test split with every device profile at every severity (cached on disk), scores a
real exported file on each in the evaluation process, and stores the table, the summary and the
plot. The run comes from the fake training process; its ONNX variant is replaced by a real tiny
ONNX classifier (mean colour → red or green), built here with ``onnx.helper`` (no TensorFlow)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from annotate.imaging import check_image_bytes
from annotate.uploads import images_store_checked
from augment.profiles import PROFILES
from jobs.models import Job
from tests.conftest import annotate, set_split
from training import robustness
from training.models import ModelArtifact, RobustnessReport, TrainingRun

from .conftest import run_of

pytestmark = pytest.mark.django_db

SPLITS = ["train", "train", "val", "test", "test", "test"]  # per class


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def colour_version(project, labels, users, build_version):
    """12 images of 32 px: faintly reddish ones tagged cat, faintly greenish ones dog; 6 of them test."""
    rng = np.random.default_rng(0)
    checked, tags, splits = [], [], []
    for label, channel in (("cat", 0), ("dog", 1)):
        for i, split in enumerate(SPLITS):
            array = rng.integers(80, 120, size=(32, 32, 3), dtype=np.uint8)
            array[..., channel] += np.uint8(8 + 4 * i)  # a faint cast: warm light can tip it
            checked.append((f"{label}_{i}.png", check_image_bytes(_png(array))))
            tags.append(labels[label])
            splits.append(split)
    images = images_store_checked(project=project, checked=checked, user=users["owner"], source="upload").created
    for image, label in zip(images, tags):
        annotate(image, [(label, "tag", {})])
    for split in set(splits):
        set_split([img for img, s in zip(images, splits) if s == split], split)
    return build_version(project)


def _colour_onnx(path, size: int) -> None:
    """scores = softmax(mean RGB · W): cat where red outweighs green, dog otherwise."""
    import onnx
    from onnx import TensorProto, helper

    weights = np.array([[0.05, -0.05], [-0.05, 0.05], [0.0, 0.0]], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("MatMul", ["mean", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["scores"], axis=-1),
        ],
        "colour",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, size, size, 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("w", TensorProto.FLOAT, list(weights.shape), weights.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


@pytest.fixture
def finished_run(start, fake_worker, colour_version) -> TrainingRun:
    """A succeeded classification run whose onnx-float32 variant is a real (tiny) ONNX file."""
    run = run_of(start(version=colour_version.pk, task="classify", epochs=1, input_size=32, batch_size=4))
    assert run.job.status == Job.Status.SUCCEEDED, run.job.error
    _colour_onnx(run.folder / "artifacts" / "model_float32.onnx", 32)
    ModelArtifact.objects.filter(run=run, format="onnx", variant="float32").update(
        status="ok", error="", path="artifacts/model_float32.onnx"
    )
    return run


@pytest.fixture
def report_of(api, users, django_capture_on_commit_callbacks):
    """``report_of(run, **body)`` → (the POST's answer, the report's job after it ran eagerly)."""

    def post(run, user=None, **body):
        with django_capture_on_commit_callbacks(execute=True):
            response = api(user or users["owner"]).post(f"/api/training-runs/{run.pk}/robustness", body, format="json")
        job = Job.objects.get(pk=response.json()["job"]["id"]) if response.status_code == 202 else None
        return response, job

    return post


SUMMARY_KEYS = {"mean_metric", "mean_corruption_error", "relative_corruption_error"}


def test_a_report_through_the_api_is_deterministic_and_reuses_its_corrupted_splits(finished_run, report_of, api, users,
                                                                                  client):
    run = finished_run
    response, job = report_of(run, variant="onnx-float32", seed=0)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["variant"] == "onnx-float32" and body["job"]["kind"] == "training.robustness"
    assert job.status == Job.Status.SUCCEEDED, (job.error, job.log[-2000:])
    assert job.result["corrupted_sets_built"] == 30 and job.result["corrupted_sets_reused"] == 0

    reports = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/robustness").json()
    assert [r["id"] for r in reports] == [body["id"]]
    report = reports[0]
    assert report["status"] == "succeeded" and report["progress"] == 1.0 and report["metric"] == "accuracy"
    assert report["clean"] == 1.0  # the colour rule gets every clean test image right
    assert set(report["results"]) == set(PROFILES) and report["severities"] == [1, 2, 3, 4, 5]
    assert all(len(v) == 5 and all(0.0 <= m <= 1.0 for m in v) for v in report["results"].values())
    assert report["results"]["indoor-tungsten"][4] < 1.0  # the warm cast turns a faintly green dog red
    summary = report["summary"]
    assert set(summary["profiles"]) == set(PROFILES) and SUMMARY_KEYS <= set(summary["overall"])
    assert all(SUMMARY_KEYS <= set(s) for s in summary["profiles"].values())
    for profile, values in report["results"].items():  # clean is 1: the relative error is the error
        assert summary["profiles"][profile]["relative_corruption_error"] == pytest.approx(1 - np.mean(values))
    assert [row["profile"] for row in report["table"]] == list(report["results"])
    assert report["table"][0]["metrics"] == report["results"][report["table"][0]["profile"]]

    plot = api(users["viewer"]).get(report["plot"])
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert b"".join(plot.streaming_content).startswith(b"\x89PNG")
    run.refresh_from_db()
    card = run.model_card["robustness"]
    assert [e["variant"] for e in card] == ["onnx-float32"] and card[0]["report"] == body["id"]

    # The same seed again: nothing is corrupted anew, and every number is the same.
    folder = robustness.corrupted_folder(version=run.version, profile="phone-low-light", severity=3, seed=0)
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    response, again = report_of(run, variant="onnx-float32", seed=0)
    assert again.status == Job.Status.SUCCEEDED, again.error
    assert again.result["corrupted_sets_built"] == 0 and again.result["corrupted_sets_reused"] == 30
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    second = RobustnessReport.objects.get(pk=response.json()["id"])
    assert second.results == report["results"] and second.clean == report["clean"]
    assert second.summary == report["summary"]
    run.refresh_from_db()
    assert [e["report"] for e in run.model_card["robustness"]] == [second.pk]  # one entry per variant

    # Another seed: other pixels, in a folder of its own; a subset is measured where asked only
    # ("onnx": the run's one ONNX file).
    response, other = report_of(run, variant="onnx", seed=7, profiles=["phone-low-light"], severities=[5])
    assert other.status == Job.Status.SUCCEEDED and other.result["corrupted_sets_built"] == 1
    subset = RobustnessReport.objects.get(pk=response.json()["id"])
    assert subset.variant == "onnx-float32"
    assert list(subset.results) == ["phone-low-light"] and subset.results["phone-low-light"][:4] == [None] * 4
    seeded = robustness.corrupted_folder(version=run.version, profile="phone-low-light", severity=5, seed=7)
    same = robustness.corrupted_folder(version=run.version, profile="phone-low-light", severity=5, seed=0)
    first = json.loads((same / "manifest.json").read_text())["items"][0]["file"]
    assert (seeded / first).read_bytes() != (same / first).read_bytes()

    client.force_login(users["viewer"])
    html = client.get(f"/training-runs/{run.pk}/").content.decode()
    assert 'data-testid="robustness"' in html and 'data-profile="phone-low-light"' in html
    assert f"/api/training-runs/{run.pk}/robustness/{second.pk}/plot" in html and "severity 5" in html
    assert "robustness-form" not in html  # viewers do not start reports
    client.force_login(users["owner"])
    html = client.get(f"/training-runs/{run.pk}/").content.decode()
    assert 'data-testid="robustness-form"' in html and '<option value="onnx-float32">' in html


def test_the_relative_corruption_error_on_hand_made_numbers():
    summary = robustness.summarize(0.8, {"a": [0.8, 0.6, 0.4, 0.2, 0.0], "b": [0.8, None, 0.8, None, 0.4]},
                                   metric="accuracy")
    a, b = summary["profiles"]["a"], summary["profiles"]["b"]
    assert a["relative_corruption_error"] == pytest.approx((0 + 0.25 + 0.5 + 0.75 + 1) / 5)
    assert a["mean_metric"] == pytest.approx(0.4) and a["mean_corruption_error"] == pytest.approx(0.6)
    assert b["relative_corruption_error"] == pytest.approx(0.5 / 3)  # unmeasured severities left out
    assert summary["overall"]["relative_corruption_error"] == pytest.approx((2.5 + 0.5) / 8)
    assert summary["overall"]["mean_metric"] == pytest.approx(4.0 / 8)
    assert summary["worst_profile"] == "a" and summary["clean"] == 0.8
    assert robustness.relative_corruption_error(0.0, [0.1]) is None  # no clean score to lose
    assert robustness.relative_corruption_error(0.5, [0.6]) == pytest.approx(-0.2)  # it helped


def test_bad_requests_are_refused_with_the_field_and_nothing_is_queued(finished_run, report_of, users, api):
    run = finished_run
    jobs = Job.objects.count()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"variant": "tflite-float16"}, "variant"),  # no such variant
        ({"variant": "keras-float32"}, "variant"),  # not a file a runtime runs
        ({"variant": "onnx-float32", "profiles": ["phone-underwater"]}, "profiles"),
        ({"variant": "onnx-float32", "profiles": []}, "profiles"),
        ({"variant": "onnx-float32", "severities": [0, 6]}, "severities"),
        ({"variant": "onnx-float32", "severities": ["3x"]}, "severities"),
        ({"variant": "onnx-float32", "seed": -1}, "seed"),
        ({}, "variant"),
    ]
    for body, field in cases:
        response, _ = report_of(run, **body)
        assert response.status_code == 400 and field in response.json(), (body, response.content)
    ModelArtifact.objects.filter(run=run, format="tflite", variant="int8").update(status="failed", error="no")
    response, _ = report_of(run, variant="tflite-int8")
    assert response.status_code == 400 and "failed" in response.json()["variant"][0]
    assert report_of(run, users["viewer"], variant="onnx-float32")[0].status_code == 403
    assert report_of(run, users["outsider"], variant="onnx-float32")[0].status_code == 404
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.FAILED)
    response, _ = report_of(run, variant="onnx-float32")
    assert response.status_code == 400 and "run" in response.json()
    assert Job.objects.count() == jobs and not RobustnessReport.objects.exists()


def test_a_file_that_does_not_run_fails_the_job_readably_and_shows_no_numbers(finished_run, report_of, api, users):
    run = finished_run
    (run.folder / "artifacts" / "model_float32.onnx").write_bytes(b"not an onnx model")
    response, job = report_of(run, variant="onnx-float32", profiles=["iot-low-res"], severities=[1])
    assert response.status_code == 202
    assert job.status == Job.Status.FAILED and "The robustness evaluation exited with code" in job.error
    report = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/robustness").json()[0]
    assert report["status"] == "failed" and report["error"] == job.error
    assert report["clean"] is None and report["results"] == {} and report["table"] == [] and report["plot"] is None
    run.refresh_from_db()
    assert "robustness" not in run.model_card
