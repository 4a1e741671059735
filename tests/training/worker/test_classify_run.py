"""A whole classification run through ``python -m training.worker``, as the web side starts it.

One run is shared by every test here (module fixture): 3 epochs on a toy of coloured squares and
stripes at 32 px, letterboxed, with an online flip recipe and a weight average (``ema``). It is
killed (SIGKILL) right after its second ``EPOCH`` line and started again on the same folder, so the
resumed process is the one that evaluates and exports; the tests read both processes' lines and the run folder.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from export.model_formats.records import path_digest
from training.protocol import RunSpec, parse
from training.worker.classify import batch_images, classification_metrics, iter_batches
from training.worker.data import load_sample
from training.worker.schedule import auto_bn_momentum, learning_rate_at, plan_steps

from .toy import LABELS, ROOT, make_items, make_spec, run_worker, worker_command, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]

VARIANTS = {"keras-float32", "saved_model-float32", "tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8", "onnx-float32",
            "coreml-float16"}
EPOCH_KEYS = {"epoch", "loss", "val_loss", "val_accuracy", "lr", "seconds"}


class Run:
    def __init__(self, folder: Path, spec: RunSpec, first: list, second: list, stderr: str, code: int):
        self.folder, self.spec, self.first, self.second, self.stderr, self.code = folder, spec, first, second, stderr, code

    def events(self, name: str, which: str = "second") -> list:
        return [payload for event, payload in getattr(self, which) if event == name]

    @property
    def artifacts(self) -> dict[str, dict]:
        return {f"{a['format']}-{a['variant']}": a for a in self.events("ARTIFACT")}

    @property
    def card(self) -> dict:
        return self.events("DONE")[0]["model_card"]

    def test_samples(self):
        return [load_sample(item, self.spec.input_size, self.spec.resize) for item in self.spec.items if item.split == "test"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("classify_run")
    items = make_items(root / "images", per_class=64)
    spec = make_spec(items, batch_size=4, recipe={"transforms": [{"name": "HorizontalFlip", "p": 0.5}]},
                     options={"ema": 0.9})
    folder = root / "run"
    folder.mkdir()
    spec.write(folder)
    # First process: killed with SIGKILL as soon as it reports its second epoch.
    with open(root / "first_stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            worker_command(folder), cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        first, epochs = [], 0
        deadline = time.monotonic() + 600
        for text in process.stdout:
            event = parse(text)
            if event is not None:
                first.append(event)
            if event and event[0] == "EPOCH":
                epochs += 1
                if epochs == 2:
                    process.send_signal(signal.SIGKILL)
                    break
            assert time.monotonic() < deadline, "the first process took too long"
        process.wait(timeout=60)
        process.stdout.close()
    assert epochs == 2, (root / "first_stderr.txt").read_text()[-3000:]
    assert process.returncode == -signal.SIGKILL
    # Second process: same folder, to the end.
    code, second, stderr_text = run_worker(folder)
    return Run(folder, spec, first, second, stderr_text, code)


def test_the_run_succeeds(run):
    assert run.code == 0, run.stderr[-4000:]
    assert [e for e, _ in run.second][-1] == "DONE"


def test_resume_continues_after_the_checkpointed_epoch(run):
    assert [p["epoch"] for p in run.events("EPOCH", "first")] == [1, 2]
    assert run.events("RESUMED", "first") == []
    assert run.events("RESUMED") == [2]
    assert [p["epoch"] for p in run.events("EPOCH")] == [3]  # exactly one more epoch
    state = json.loads((run.folder / "state.json").read_text())
    assert state["epochs_done"] == 3 and [h["epoch"] for h in state["history"]] == [1, 2, 3]
    assert state["history"][:2] == run.events("EPOCH", "first")  # the killed process's epochs, kept
    assert run.events("DONE")[0]["epochs"] == 3
    # the schedule continues at the right step: the checkpoint restored the optimizer's step count
    steps = plan_steps(train_images=sum(i.split == "train" for i in run.spec.items), batch_size=4, epochs=3, warmup_epochs=1)
    resumed = re.search(r"Resumed after epoch 2 of 3 \(optimizer step (\d+)\)", run.stderr)
    assert resumed and int(resumed.group(1)) == 2 * steps.steps_per_epoch
    for record in state["history"]:
        expected = learning_rate_at(
            record["epoch"] * steps.steps_per_epoch, base_lr=run.spec.learning_rate,
            total_steps=steps.total_steps, warmup_steps=steps.warmup_steps,
        )
        assert record["lr"] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    # the weight average went on from the killed process's file: one update per step of the whole run
    assert f"The weight average resumes after {2 * steps.steps_per_epoch} updates." in run.stderr
    with np.load(run.folder / "average.npz") as average:
        assert int(average["updates"]) == 3 * steps.steps_per_epoch


def test_loss_goes_down(run):
    history = json.loads((run.folder / "state.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]


def test_lines_are_well_formed(run):
    for record in run.events("EPOCH", "first") + run.events("EPOCH"):
        assert set(record) == EPOCH_KEYS
        assert all(isinstance(record[k], int | float) for k in EPOCH_KEYS)
        assert 0.0 <= record["val_accuracy"] <= 1.0 and record["seconds"] > 0
    fractions = [p[0] for p in run.events("PROGRESS")]
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions)
    assert any("Epoch 3/3, batch" in p[1] for p in run.events("PROGRESS"))
    (metrics,) = run.events("METRICS")
    assert metrics["best_epoch"] in (1, 2, 3) and metrics["split"] == "test"
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["images"] == 33
    assert set(metrics["per_class"]) == set(LABELS)
    assert np.asarray(metrics["confusion_matrix"]).shape == (3, 3) and np.sum(metrics["confusion_matrix"]) == 33
    assert isinstance(metrics["inference_mode_gap"], float)
    assert set(metrics["inference_mode_check"]) == {"images", "train_accuracy_inference_mode", "train_accuracy_training_mode"}
    plots = dict(run.events("PLOT"))
    assert {"loss", "val_accuracy", "learning_rate", "confusion_matrix", "sample_predictions"} <= set(plots)
    for path in plots.values():
        assert (run.folder / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run.folder / "best.keras").is_file() and (run.folder / "checkpoint.keras").is_file()


def test_every_variant_is_reported_with_its_file(run):
    artifacts = run.artifacts
    assert set(artifacts) == VARIANTS
    for key, artifact in artifacts.items():
        assert artifact["status"] == "ok", (key, artifact["error"])
        path = run.folder / artifact["path"]
        assert path.exists()
        assert path_digest(path) == (artifact["size_bytes"], artifact["sha256"])  # after the metadata went in
        if artifact["format"] == "coreml":  # Core ML cannot run here: checked structurally, not measured
            assert path.is_dir() and path.name == "model.mlpackage"
            assert artifact["metrics"] == {} and artifact["latency_ms"] == {} and "needs macOS" in artifact["notes"]
            continue
        assert "accuracy" in artifact["metrics"]
        if artifact["format"] in ("tflite", "onnx"):
            assert set(artifact["latency_ms"]) == {"1", "2"} and all(v > 0 for v in artifact["latency_ms"].values())
        else:
            assert artifact["latency_ms"] == {}


def test_float_files_match_keras(run):
    import keras

    from export.model_formats.measure import run_file

    model = keras.models.load_model(run.folder / "artifacts" / "model.keras", compile=False)
    images = batch_images(run.test_samples())
    reference = np.asarray(model.predict_on_batch(images)["scores"])
    for key in ("tflite-float32", "onnx-float32"):
        (out,) = run_file(run.folder / run.artifacts[key]["path"], [images])
        np.testing.assert_allclose(out["scores"], reference, atol=1e-4, err_msg=key)
    assert reference.argmax(1).tolist() == np.asarray(run_file(run.folder / run.artifacts["tflite-float16"]["path"], [images])[0]["scores"]).argmax(1).tolist()


def test_the_metric_stored_for_a_file_is_the_files_own(run):
    from export.model_formats.measure import run_file

    samples = run.test_samples()
    truth = np.asarray([s.label for s in samples])
    batches = [batch_images(b) for b in iter_batches(samples, 32)]
    for key, artifact in run.artifacts.items():
        if artifact["format"] not in ("tflite", "onnx"):
            continue
        scores = np.concatenate([out["scores"] for out in run_file(run.folder / artifact["path"], batches)])
        recomputed = classification_metrics(truth, scores, LABELS)
        assert artifact["metrics"]["accuracy"] == recomputed["accuracy"], key
        assert artifact["metrics"]["confusion_matrix"] == recomputed["confusion_matrix"], key
    (metrics,) = run.events("METRICS")
    assert run.artifacts["keras-float32"]["metrics"]["accuracy"] == metrics["accuracy"]


def test_the_int8_file_runs_on_int8_and_carries_labels_and_card(run):
    from export.model_formats.measure import describe_io
    from export.model_formats.metadata import read_embedded

    int8 = run.artifacts["tflite-int8"]
    io = describe_io(run.folder / int8["path"])
    assert io["inputs"][0]["dtype"] == "int8" and io["outputs"][0]["name"] == "scores"
    assert 0.0 <= int8["metrics"]["accuracy"] <= 1.0
    for key in ("tflite-float32", "tflite-int8"):
        labels, card = read_embedded(run.folder / run.artifacts[key]["path"])
        assert labels == LABELS and card["task"] == "classify" and card["input"]["size"] == 32


def test_model_card(run):
    card = run.card
    assert card["labels"] == LABELS and card["task"] == "classify" and card["architecture"] == "mobilenet_v3_small"
    assert card["input"]["resize"] == "letterbox" and card["input"]["letterbox"]["fill"] == [114, 114, 114]
    assert card["input"]["dtype_range"] == "float32 RGB 0..255 (int8 file: int8 with the file's scale/zero point)"
    assert card["input"]["int8_file_input"]["dtype"] == "int8"
    assert set(card["outputs"]) == {"scores"}
    assert card["version"] == {"id": 3, "number": 2, "content_hash": "abc123"}
    assert card["hyperparameters"]["total_steps"] == 3 * card["hyperparameters"]["steps_per_epoch"]
    assert card["history"]["epochs"] == 3 and len(card["history"]["per_epoch"]) == 3
    assert {v["key"] for v in card["variants"]} == VARIANTS
    recommended = card["recommended"]
    assert recommended["CPU (this machine's class)"]["variant"] in VARIANTS - {"coreml-float16"}
    assert recommended["NPU/DSP"]["variant"] == "tflite-int8"
    assert "inference_mode_gap" in card["metrics"]


def test_bn_momentum_is_chosen_from_the_runs_length(run):
    import keras

    hyper = run.card["hyperparameters"]
    assert hyper["bn_momentum"] == auto_bn_momentum(hyper["total_steps"])
    assert f"BatchNormalization momentum {hyper['bn_momentum']} on" in run.stderr
    model = keras.models.load_model(run.folder / "artifacts" / "model.keras", compile=False)
    from training.worker.optim import leaf_layers

    norms = [layer for _, layer in leaf_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) > 20 and {layer.momentum for layer in norms} == {hyper["bn_momentum"]}


def test_initial_weights_load_where_names_and_shapes_match(run, tmp_path):
    """Fine-tuning from the run's best model with one class fewer: everything but the head loads."""
    import keras

    from training.worker.classify import ClassifyTask
    from training.worker.optim import load_matching_weights

    spec = make_spec([], labels=["a", "b"])
    model, _ = ClassifyTask().build(spec)
    report = load_matching_weights(model, run.folder / "best.keras")
    assert report["skipped"] == ["scores"] and report["missing"] == []
    assert report["loaded"] == report["of"] - 1 and report["loaded"] > 50
    source = keras.models.load_model(run.folder / "best.keras", compile=False)
    conv = source.get_layer("MobileNetV3Small").get_layer("conv")
    np.testing.assert_array_equal(model.get_layer("MobileNetV3Small").get_layer("conv").get_weights()[0], conv.get_weights()[0])


def test_unconverged_batchnorm_statistics_are_flagged(tmp_path):
    """Keras's MobileNetV3 momentum (0.999) on a run this short: training mode learns, inference
    mode (what every exported file runs) does not — the run must say so, loudly."""
    items = make_items(tmp_path / "images", per_class=64)
    spec = make_spec(items, batch_size=4, options={"bn_momentum": 0.999, "val_loss": False}, export={"variants": ["keras"]})
    folder = tmp_path / "run"
    folder.mkdir()
    spec.write(folder)
    code, events, stderr = run_worker(folder)
    assert code == 0, stderr[-3000:]
    (metrics,) = [payload for event, payload in events if event == "METRICS"]
    check = metrics["inference_mode_check"]
    assert check["train_accuracy_training_mode"] - check["train_accuracy_inference_mode"] > 0.1
    assert metrics["inference_mode_gap"] > 0.1
    assert any("moving statistics have not converged (momentum 0.999" in w for w in metrics["warnings"])
    (done,) = [payload for event, payload in events if event == "DONE"]
    assert done["model_card"]["warnings"] == metrics["warnings"]
    assert "WARNING: Inference mode scores accuracy" in stderr
