"""Latency figures come from the file, at 1 and 2 threads, for both runtimes."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]


@pytest.mark.parametrize(
    "key", ["tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8", "onnx-float32"]
)
def test_latency_at_one_and_two_threads(classifier_export, key):
    from export.model_formats.measure import measure_latency

    figures = measure_latency(classifier_export[key].path, runs=7, warmup=2)
    assert [f.threads for f in figures] == [1, 2]
    for figure in figures:
        assert figure.runtime == ("onnxruntime" if key.startswith("onnx") else "litert")
        assert figure.runs == 7 and figure.batch_size == 1
        assert 0 < figure.min_ms <= figure.median_ms <= figure.p90_ms
        assert figure.as_dict()["median_ms"] == figure.median_ms


def test_run_file_takes_uint8_images_and_multi_batch(classifier_export, test_images):
    """A loader's uint8 images go in unchanged: the file decides how to cast or quantize them."""
    from export.model_formats.measure import FileRunner

    images, _ = test_images
    raw = np.round(images).clip(0, 255).astype(np.uint8)
    for key in ("tflite-float32", "tflite-int8", "onnx-float32"):
        runner = FileRunner(classifier_export[key].path, threads=1)
        assert runner.input_names == ["image"] and runner.output_names == ["probs"]
        from_uint8 = runner(raw)["probs"]
        from_float = runner({"image": raw.astype(np.float32)})["probs"]
        np.testing.assert_allclose(from_uint8, from_float, atol=1e-6, err_msg=key)


def test_quantize_round_trip():
    from export.model_formats.measure import dequantize, quantize

    details = {"dtype": np.int8, "quantization_parameters": {"scales": [0.5], "zero_points": [-10]}}
    values = np.array([-100.0, 0.0, 3.2, 500.0], dtype=np.float32)
    q = quantize(values, details)
    assert q.dtype == np.int8 and q.tolist() == [-128, -10, -4, 127]
    assert dequantize(q, details).tolist() == [-59.0, 0.0, 3.0, 68.5]


def test_unknown_file_kind_is_refused(tmp_path):
    from export.model_formats.measure import measure_latency

    with pytest.raises(ValueError, match=".tflite and .onnx"):
        measure_latency(tmp_path / "model.keras")
