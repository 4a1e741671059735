"""A pruned classification run through ``python -m training.worker``: the shipped model is at its
target sparsity (the best epoch is picked once the schedule has reached it), every variant exports
(full int8 included), and each file's gzip size is reported next to its raw size."""

from __future__ import annotations

import pytest

from .toy import make_items, make_spec, run_worker

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]


def test_a_pruned_run_ships_its_sparsity_in_every_variant(tmp_path):
    items = make_items(tmp_path / "images", per_class=16)
    # 32 train images / batch 8 = 4 steps an epoch, 16 in all: the schedule ends at step 8 (epoch 2),
    # so epochs 1 cannot be the best one however well it scores.
    spec = make_spec(items, epochs=4, batch_size=8, options={"pruning": {"sparsity": 0.6, "begin": 0.0, "end": 0.5}},
                     export={"latency_runs": 3, "calibration_images": 16, "variants": ["tflite-float32", "tflite-int8", "onnx"]})
    folder = tmp_path / "run"
    folder.mkdir()
    spec.write(folder)
    code, events, stderr = run_worker(folder)
    assert code == 0, stderr[-3000:]
    done = [p for e, p in events if e == "DONE"][0]
    card = done["model_card"]
    assert done["best_epoch"] >= 2
    assert abs(card["pruning"]["overall"] - 0.6) < 0.01 and card["pruning"]["target"] == 0.6
    assert all(abs(layer["sparsity"] - 0.6) < 0.02 for layer in card["pruning"]["layers"])
    metrics = [p for e, p in events if e == "METRICS"][0]
    assert abs(metrics["sparsity"] - 0.6) < 0.01
    artifacts = {f"{p['format']}-{p['variant']}": p for e, p in events if e == "ARTIFACT"}
    assert {"tflite-float32", "tflite-int8", "onnx-float32"} <= set(artifacts)
    for key in ("tflite-float32", "tflite-int8", "onnx-float32"):
        entry = artifacts[key]
        assert entry["status"] == "ok", entry
        assert 0 < entry["gzip_size_bytes"] < entry["size_bytes"]
        assert entry["metrics"]["accuracy"] is not None
