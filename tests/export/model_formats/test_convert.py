"""Conversions: every variant ships, float files match Keras, int8 is close, a Flex op fails only
the TFLite variants (with a readable reason), and outputs keep their Keras names in every file."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from .conftest import CLASSES

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]

ALL_KEYS = {
    "keras-float32",
    "saved_model-float32",
    "tflite-float32",
    "tflite-float16",
    "tflite-dynamic_int8",
    "tflite-int8",
    "onnx-float32",
}


@pytest.mark.parametrize("exported", ["classifier_export", "detector_export"])
def test_every_variant_converts_and_is_described(exported, request):
    records = request.getfixturevalue(exported)
    assert set(records) == ALL_KEYS
    for record in records.values():
        assert record.ok, f"{record.key}: {record.error}"
        assert record.path is not None and record.path.exists()
        assert record.size_bytes > 0 and len(record.sha256) == 64
        if record.path.is_file():
            assert record.sha256 == hashlib.sha256(record.path.read_bytes()).hexdigest()
            assert record.size_bytes == record.path.stat().st_size
    assert records["tflite-float32"].path.name == "model_float32.tflite"
    assert (records["saved_model-float32"].path / "saved_model.pb").is_file()


def test_quantized_files_are_smaller(classifier_export):
    sizes = {key: r.size_bytes for key, r in classifier_export.items()}
    assert sizes["tflite-float16"] < sizes["tflite-float32"]
    assert sizes["tflite-dynamic_int8"] < sizes["tflite-float32"]
    assert sizes["tflite-int8"] < sizes["tflite-float32"]


def test_float_files_match_keras(classifier, classifier_export, test_images):
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import run_file

    images, _ = test_images
    expected = keras_predict(classifier, images)["probs"]
    for key in ("tflite-float32", "onnx-float32"):
        (got,) = run_file(classifier_export[key].path, [images])
        assert set(got) == {"probs"}, key
        np.testing.assert_allclose(got["probs"], expected, atol=1e-5, err_msg=key)
    (half,) = run_file(classifier_export["tflite-float16"].path, [images])
    np.testing.assert_allclose(half["probs"], expected, atol=1e-2)


def test_int8_file_takes_raw_rgb_and_agrees_with_float(classifier, classifier_export, test_images):
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import describe_io, run_file

    io = describe_io(classifier_export["tflite-int8"].path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"] and [t["dtype"] for t in io["outputs"]] == ["int8"]
    assert io["outputs"][0]["name"] == "probs"

    images, labels = test_images
    expected = keras_predict(classifier, images)["probs"]
    assert (expected.argmax(1) == labels).mean() >= 0.9, "the toy did not learn: the comparison would mean little"
    outputs = run_file(classifier_export["tflite-int8"].path, [images[:20], images[20:]])  # two batches, two sizes
    got = np.concatenate([o["probs"] for o in outputs])
    assert got.dtype == np.float32 and got.shape == (len(images), len(CLASSES))
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95
    assert np.abs(got - expected).max() < 0.1


def test_detector_outputs_keep_their_names_and_stay_float_in_int8(detector, detector_export, test_images):
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import describe_io, run_file

    images, _ = test_images
    expected = keras_predict(detector, images)
    assert set(expected) == {"boxes", "scores"}
    for key in ("tflite-float32", "onnx-float32", "tflite-dynamic_int8"):
        (got,) = run_file(detector_export[key].path, [images])
        assert set(got) == {"boxes", "scores"}, key
        for name in expected:
            assert got[name].shape == expected[name].shape, (key, name)
            np.testing.assert_allclose(got[name], expected[name], atol=1e-4, err_msg=f"{key} {name}")

    io = describe_io(detector_export["tflite-int8"].path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert {t["name"]: t["dtype"] for t in io["outputs"]} == {"boxes": "float32", "scores": "float32"}
    (got,) = run_file(detector_export["tflite-int8"].path, [images])
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=0.05, err_msg=f"int8 {name}")
    assert 0.0 <= got["boxes"].min() and got["boxes"].max() <= 1.0


class Cumprod:
    """Defined in a factory so the Keras class is made after Keras is imported."""

    @staticmethod
    def layer(keras):
        class CumulativeProduct(keras.layers.Layer):
            """``keras.ops.cumprod`` lowers to ``tf.Cumprod``, which has no TFLite builtin (Flex only).
            (A positive axis: tf2onnx 1.17 mis-converts Cumprod with a negative one.)"""

            def call(self, x):
                return keras.ops.cumprod(x, axis=1)

        return CumulativeProduct()


def test_a_flex_only_op_fails_tflite_with_a_reason_and_the_rest_ships(keras, calibration, tmp_path):
    from export.model_formats.convert import export_model

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = Cumprod.layer(keras)(x)
    model = keras.Model(inputs, outputs)

    records = {r.key: r for r in export_model(model, tmp_path, representative_data=calibration)}
    tflite = [r for r in records.values() if r.format == "tflite"]
    assert len(tflite) == 4
    for record in tflite:
        assert record.status == "failed" and record.path is None
        assert "Cumprod" in record.error, record.error
        assert "\n" not in record.error and len(record.error) < 400
    assert not list(tmp_path.glob("*.tflite"))
    for key in ("keras-float32", "saved_model-float32", "onnx-float32"):
        assert records[key].ok, f"{key}: {records[key].error}"


def test_int8_without_calibration_data_fails_alone(detector, tmp_path):
    from export.model_formats.convert import export_model

    records = export_model(detector, tmp_path, keras_file=False, onnx=False, tflite_variants=["float32", "int8"])
    by_key = {r.key: r for r in records}
    assert set(by_key) == {"saved_model-float32", "tflite-float32", "tflite-int8"}
    assert by_key["tflite-float32"].ok
    assert by_key["tflite-int8"].status == "failed"
    assert "representative dataset" in by_key["tflite-int8"].error


def test_caller_mistakes_raise(detector, tmp_path):
    from export.model_formats.convert import export_model

    with pytest.raises(ValueError, match="not outputs of the model"):
        export_model(detector, tmp_path, float_outputs=["logits"])
    with pytest.raises(ValueError, match="opset"):
        export_model(detector, tmp_path, opset=11)


def test_failure_reason_is_one_line():
    from export.model_formats.convert import failure_reason

    noisy = RuntimeError(
        "Could not translate MLIR to FlatBuffer.\n<unknown>:0: note: loc(x): called from\n"
        "  %1 = \"tf.Foo\"(%arg0)\n<unknown>:0: error: 'tf.Foo' op is not supported\n}) : () -> ()\n"
    )
    assert failure_reason(noisy) == "RuntimeError: 'tf.Foo' op is not supported"
    assert failure_reason(ValueError("")) == "ValueError"


def test_an_onnx_graph_tf2onnx_could_not_convert_is_a_failed_variant(keras, tmp_path):
    """tf2onnx only logs a node it cannot convert (here Cumprod over a negative axis) and writes
    the TF op into the graph; the ONNX checker makes that a failed variant, not a broken file."""
    from export.model_formats.convert import export_model

    inputs = keras.Input((4,), name="x")

    class NegativeAxisCumprod(keras.layers.Layer):
        def call(self, x):
            return keras.ops.cumprod(x, axis=-1)

    model = keras.Model(inputs, NegativeAxisCumprod()(inputs))
    records = {r.key: r for r in export_model(model, tmp_path, keras_file=False, tflite_variants=[])}
    assert records["saved_model-float32"].ok
    assert records["onnx-float32"].status == "failed" and "Cumprod" in records["onnx-float32"].error


def _dtypes_of_layer(path, layer: str) -> set[str]:
    """The dtypes of the tensors a layer's ops write in a TFLite file (by the layer's name scope)."""
    import re

    from ai_edge_litert.interpreter import Interpreter

    scope = re.compile(rf"(^|/){layer}(_\d+)?/")
    return {np.dtype(t["dtype"]).name for t in Interpreter(model_path=str(path)).get_tensor_details()
            if scope.search(t["name"])}


def _model_with_a_decode(keras):
    """A head whose sigmoid output a small "decode" layer scales into wide-range coordinates."""

    class Decode(keras.layers.Layer):
        def call(self, x):
            cells = keras.ops.floor(x[:, :1] * 40.0)
            return keras.ops.concatenate([cells + x[:, 1:2], cells * 4.0 - x[:, 2:3]], axis=-1)

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(3, activation="sigmoid", name="head")(x)
    points = Decode(name="decode")(head)
    return keras.Model(inputs, {"points": keras.layers.Identity(name="points")(points)}, name="toy_pose")


def test_float_layers_keep_a_decode_float_inside_the_int8_file(keras, calibration, test_images, tmp_path):
    from export.model_formats.convert import export_model, keras_predict
    from export.model_formats.measure import describe_io, run_file

    model = _model_with_a_decode(keras)
    kwargs = dict(representative_data=calibration, keras_file=False, onnx=False, tflite_variants=["int8"],
                  float_outputs=["points"])
    plain = {r.key: r for r in export_model(model, tmp_path / "plain", **kwargs)}["tflite-int8"]
    kept = {r.key: r for r in export_model(model, tmp_path / "kept", float_layers=["decode"], **kwargs)}["tflite-int8"]
    assert plain.ok and kept.ok, (plain.error, kept.error)
    assert "int8" in _dtypes_of_layer(plain.path, "decode")
    assert "int8" not in _dtypes_of_layer(kept.path, "decode")  # float32 values (and int32 slice bounds)
    assert "int8" in _dtypes_of_layer(kept.path, "head")  # the rest of the file stays int8
    io = describe_io(kept.path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert [t["dtype"] for t in io["outputs"]] == ["float32"]
    images, _ = test_images
    expected = keras_predict(model, images)["points"]
    (got,) = run_file(kept.path, [images])
    (all_int8,) = run_file(plain.path, [images])
    # Left: the head's int8 output, a 1/256 step scaled by 4 at most; the int8 decode adds its own
    # rounding of values up to ~160 on top.
    assert np.mean(np.abs(got["points"] - expected)) < np.mean(np.abs(all_int8["points"] - expected))


def test_float_layers_need_float_outputs_and_a_known_layer(keras, calibration, tmp_path):
    from export.model_formats.convert import export_model

    model = _model_with_a_decode(keras)
    with pytest.raises(ValueError, match="float_outputs"):
        export_model(model, tmp_path, representative_data=calibration, float_layers=["decode"])
    with pytest.raises(ValueError, match="integer_only"):
        export_model(model, tmp_path, representative_data=calibration, float_layers=["decode"],
                     float_outputs=["points"], integer_only=True)
    with pytest.raises(ValueError, match="not layers of the model"):
        export_model(model, tmp_path, representative_data=calibration, float_layers=["nms"], float_outputs=["points"])
