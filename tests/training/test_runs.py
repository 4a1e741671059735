"""A run end to end with the fake training process: POST → 202 with the run and its job, the job
writes the spec and runs the process, and what it reports is stored (history, metrics, artifacts,
plots, model card); the artifacts list, the download zip and the plots are served."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from jobs.models import Job
from training.models import ModelArtifact, TrainingRun

from .conftest import run_of

pytestmark = pytest.mark.django_db


def test_classification_run_is_queued_runs_and_stores_what_it_reports(start, fake_worker, classify_version, api, users):
    response = start(version=classify_version.pk, task="classify", epochs=3, input_size=96, batch_size=4)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["job"]["kind"] == "training.run" and body["job"]["id"]
    assert response["Location"] == f"/api/training-runs/{body['id']}/"
    run = run_of(response)
    assert run.job.status == Job.Status.SUCCEEDED, (run.job.error, run.job.log)
    assert [e["epoch"] for e in run.history] == [1, 2, 3]
    assert run.best_epoch == 3 and run.metrics["accuracy"] == 0.9 and "best_epoch" not in run.metrics
    assert run.labels == ["cat", "dog"]
    assert set(run.plots) == {"learning_curves", "confusion_matrix", "samples"}
    assert run.model_card["labels"] == ["cat", "dog"]
    assert run.job.result["value"] == 0.9 and run.job.result["artifacts"] == 4
    assert "fake worker starting" in run.job.log  # non-protocol output is logged

    # What the process was given.
    seen = json.loads((run.folder / "seen.json").read_text())
    assert seen["labels"] == ["cat", "dog"] and seen["items"] == 8 and seen["splits"] == ["test", "train", "val"]
    assert seen["first_item"]["label"] in (0, 1) and seen["first_item"]["path"].startswith("/")
    assert seen["resize"] == "stretch" and seen["threads"] == 2 and seen["env_threads"] == "2"
    assert seen["options"] == {"alpha": 1.0, "minimalistic": False, "bn_momentum": "auto", "class_weights": False}
    assert seen["version"]["id"] == classify_version.pk and seen["version"]["content_hash"] == classify_version.content_hash
    assert seen["schedule"] == "cosine" and seen["warmup_epochs"] == 0  # auto: none under 5 epochs

    detail = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 1.0 and detail["epochs_done"] == 3
    assert detail["headline_metric"] == "accuracy" and detail["best_val_metric"] == 0.75
    assert [e["epoch"] for e in detail["history"]] == [1, 2, 3]
    assert set(detail["plots"]) == {"learning_curves", "confusion_matrix", "samples"}
    assert len(detail["artifacts"]) == 5


def test_artifacts_list_download_zip_and_plots(start, fake_worker, classify_version, api, users):
    run = run_of(start(version=classify_version.pk, task="classify", epochs=2, input_size=64))
    viewer = api(users["viewer"])
    artifacts = viewer.get(f"/api/training-runs/{run.pk}/artifacts/").json()
    assert {(a["format"], a["variant"], a["status"]) for a in artifacts} == {
        ("keras", "float32", "ok"), ("saved_model", "float32", "ok"), ("tflite", "float32", "ok"),
        ("tflite", "int8", "ok"), ("onnx", "float32", "failed"),
    }
    int8 = next(a for a in artifacts if a["variant"] == "int8")
    assert set(int8) == {"id", "format", "variant", "status", "error", "size_bytes", "gzip_size_bytes", "sha256", "latency_ms", "metrics",
                         "download"}
    assert int8["latency_ms"] == {"1": 2.5, "2": 1.5} and int8["metrics"] == {"accuracy": 0.88}
    assert int8["download"] == f"/api/artifacts/{int8['id']}/download" and int8["size_bytes"] == 9

    response = viewer.get(int8["download"])
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f"run{run.pk}-tflite-int8.zip" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["labels.txt", "model_card.json", "model_int8.tflite"]
    assert archive.read("labels.txt").decode() == "cat\ndog\n"
    assert archive.read("model_int8.tflite") == b"TFL3 int8"
    card = json.loads(archive.read("model_card.json"))
    assert card["task"] == "classify" and card["labels"] == ["cat", "dog"]
    assert card["file"]["variant"] == "int8" and card["file"]["input_dtype"] == "int8"
    assert card["dataset_version"]["id"] == run.version_id and card["input"]["size"] == [64, 64]
    assert card["hyperparameters"]["epochs"] == 2 and card["output_layout"] == {"scores": [None, 2]}

    saved = next(a for a in artifacts if a["format"] == "saved_model")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(viewer.get(saved["download"]).streaming_content)))
    assert sorted(archive.namelist()) == [
        "labels.txt", "model_card.json", "saved_model/saved_model.pb", "saved_model/variables/variables.index",
    ]

    failed = next(a for a in artifacts if a["status"] == "failed")
    assert failed["download"] is None and failed["error"] == "converter said no"
    refused = viewer.get(f"/api/artifacts/{failed['id']}/download")
    assert refused.status_code == 409 and "failed to export" in refused.json()["detail"]

    plot = viewer.get(f"/api/training-runs/{run.pk}/plots/confusion_matrix")
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"
    assert b"".join(plot.streaming_content).startswith(b"\x89PNG")
    assert viewer.get(f"/api/training-runs/{run.pk}/plots/nope").status_code == 404


def test_detection_run_gets_one_box_per_object_in_label_order(start, fake_worker, detect_version, labels):
    run = run_of(start(version=detect_version.pk, task="detect", epochs=1, input_size=64))
    assert run.job.status == "succeeded", run.job.error
    seen = json.loads((run.folder / "seen.json").read_text())
    assert seen["labels"] == ["cat", "dog"]  # version label order, only the labels with objects
    assert seen["first_item"]["label"] is None
    assert seen["first_item"]["boxes"] == [[4.0, 5.0, 20.0, 15.0, 1]]  # image 0 holds a dog
    assert set(run.plots) == {"learning_curves", "pr_curve", "samples"} and run.metrics["map50"] == 0.9


def test_a_failing_process_fails_the_run_with_its_stderr_and_keeps_the_history(start, fake_worker, classify_version):
    fake_worker("--fail")
    run = run_of(start(version=classify_version.pk, task="classify", epochs=3, input_size=64))
    assert run.job.status == "failed" and run.job.attempts == 1  # a plain failure is not retried
    assert "The training process exited with code 1" in run.job.error
    assert "ValueError: the fake training failed" in run.job.error
    assert [e["epoch"] for e in run.history] == [1]


def test_a_process_that_ends_without_done_fails_the_run(start, fake_worker, classify_version):
    fake_worker("--no-done")
    run = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))
    assert run.job.status == "failed" and "no DONE line" in run.job.error


def test_paths_outside_the_run_folder_are_ignored(start, fake_worker, classify_version):
    fake_worker("--evil-paths")
    run = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))
    assert run.job.status == "succeeded"
    assert not ModelArtifact.objects.filter(run=run, variant="float16").exists()
    assert "escape" not in run.plots
    assert "Ignored a malformed ARTIFACT line" in run.job.log and "Ignored a malformed PLOT line" in run.job.log


def test_list_filters_by_version_without_n_plus_one(start, fake_worker, classify_version, api, users, project,
                                                    django_assert_max_num_queries):
    fake_worker("--no-done")  # quick; the list does not care how they ended
    for _ in range(3):
        start(version=classify_version.pk, task="classify", epochs=1, input_size=64)
    client = api(users["viewer"])
    with django_assert_max_num_queries(6):
        answer = client.get(f"/api/projects/{project.pk}/training-runs/").json()
    assert answer["count"] == 3 and {r["status"] for r in answer["results"]} == {"failed"}
    assert client.get(f"/api/projects/{project.pk}/training-runs/", {"version": classify_version.pk}).json()["count"] == 3
    assert client.get(f"/api/projects/{project.pk}/training-runs/", {"version": 999999}).json()["count"] == 0


def test_fine_tuning_passes_the_earlier_runs_best_model(start, fake_worker, classify_version, tmp_path):
    first = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))
    second = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=96, init_from=first.pk))
    assert second.job.status == "succeeded", second.job.error
    seen = json.loads((second.folder / "seen.json").read_text())
    assert seen["initial_weights"] == str(first.folder / "best.keras")

    weights = tmp_path / "weights" / "pretrained.h5"
    weights.write_bytes(b"h5")
    third = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64,
                         init_weights_file="pretrained.h5"))
    assert json.loads((third.folder / "seen.json").read_text())["initial_weights"] == str(weights)
    assert TrainingRun.objects.count() == 3


def test_the_recipe_and_the_versions_letterbox_reach_the_process(start, fake_worker, project, labels, add_images,
                                                                 build_version):
    from augment.models import Recipe
    from tests.conftest import annotate, set_split

    images = add_images(4, seed=600)
    for i, image in enumerate(images):
        annotate(image, [(labels["cat"] if i % 2 else labels["dog"], "tag", {})])
    set_split(images[:2], "train")
    set_split(images[2:], "test")
    version = build_version(project, preprocessing={"resize": {"mode": "letterbox", "width": 48, "height": 48}})
    spec = {"transforms": [{"name": "HorizontalFlip", "p": 0.5}]}
    recipe = Recipe.objects.create(project=project, name="flip", spec=spec)
    run = run_of(start(version=version.pk, task="classify", epochs=1, input_size=64, recipe=recipe.pk))
    assert run.job.status == "succeeded", run.job.error
    seen = json.loads((run.folder / "seen.json").read_text())
    assert seen["resize"] == "letterbox" and seen["recipe"] == spec
    assert seen["first_item"]["width"] == 48  # sizes of the version's (resized) files
