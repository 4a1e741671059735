"""The Core ML variant of a classifier: converted from the SavedModel, checked structurally (Core ML
itself runs on Apple OSes only, so nothing here runs the file).

The model is the project's own classifier (MobileNetV3 Small, alpha 0.25, 32 px, three labels),
untrained: the check is about the file's structure, not its numbers.
"""

from __future__ import annotations

import sys

import pytest

from export.model_formats.records import path_digest

LABELS = ["red_square", "green_stripes", "blue_square"]
SIZE = 32
ONLY_SAVED_MODEL = {"keras_file": False, "tflite_variants": (), "onnx": False, "verify": False}

pytestmark = [pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]


@pytest.fixture(scope="module")
def model():
    from tests.training.worker.toy import make_spec
    from training.worker.classify import ClassifyTask

    spec = make_spec([], input_size=SIZE, labels=list(LABELS), options={"alpha": 0.25})
    _, export_model = ClassifyTask().build(spec)
    return export_model


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    from export.model_formats.convert import export_model

    out = tmp_path_factory.mktemp("coreml")
    return {r.key: r for r in export_model(model, out, coreml_labels=LABELS, **ONLY_SAVED_MODEL)}


@pytest.mark.slow
def test_the_classifier_converts_to_an_mlpackage(exported):
    assert set(exported) == {"saved_model-float32", "coreml-float16"}
    record = exported["coreml-float16"]
    assert record.ok, record.error
    assert record.path is not None and record.path.is_dir() and record.path.name == "model.mlpackage"
    assert (record.path / "Manifest.json").is_file()
    assert (record.size_bytes, record.sha256) == path_digest(record.path)
    assert "needs macOS" in record.notes


@pytest.mark.slow
def test_the_structural_check_reads_input_outputs_and_labels(exported):
    from export.model_formats.coreml import check_coreml

    found = check_coreml(exported["coreml-float16"].path, LABELS, SIZE)
    assert found["labels"] == LABELS
    assert found["inputs"] == ["image"]
    assert found["outputs"] == {"classLabel": "stringType", "classLabel_probs": "dictionaryType"}


@pytest.mark.slow
def test_the_structural_check_refuses_other_labels_or_size(exported):
    from export.model_formats.coreml import check_coreml

    path = exported["coreml-float16"].path
    with pytest.raises(ValueError, match="class labels"):
        check_coreml(path, list(reversed(LABELS)), SIZE)
    with pytest.raises(ValueError, match="class labels"):
        check_coreml(path, LABELS[:2], SIZE)
    with pytest.raises(ValueError, match="input shape"):
        check_coreml(path, LABELS, 64)


@pytest.mark.slow
def test_labels_that_do_not_fit_the_model_fail_before_converting(exported, tmp_path):
    from export.model_formats.coreml import write_coreml

    with pytest.raises(ValueError, match="2 labels for a model output of 3 classes"):
        write_coreml(exported["saved_model-float32"].path, tmp_path / "x.mlpackage", LABELS[:2], SIZE)
    assert not (tmp_path / "x.mlpackage").exists()


@pytest.mark.slow
def test_no_labels_no_coreml_file_and_no_coremltools_a_failed_record(model, tmp_path, monkeypatch):
    from export.model_formats.convert import export_model

    records = export_model(model, tmp_path / "plain", **ONLY_SAVED_MODEL)
    assert [r.key for r in records] == ["saved_model-float32"]
    assert not list((tmp_path / "plain").glob("*.mlpackage"))

    monkeypatch.setitem(sys.modules, "coremltools", None)  # what an installation without it sees
    records = {r.key: r for r in export_model(model, tmp_path / "missing", coreml_labels=LABELS, **ONLY_SAVED_MODEL)}
    missing = records["coreml-float16"]
    assert not missing.ok and missing.path is None and "coremltools is not installed" in missing.error
    assert records["saved_model-float32"].ok


def test_the_variants_option_names_coreml():
    from training.worker.artifacts import variant_options
    from training.worker.schedule import SpecError

    assert variant_options(None) == {}
    assert variant_options(["coreml"])["coreml"] is True
    assert variant_options(["coreml-float16", "onnx"]) == {
        "keras_file": False, "onnx": True, "tflite_variants": [], "coreml": True,
    }
    assert variant_options(["tflite-int8"])["coreml"] is False
    with pytest.raises(SpecError, match="coreml-float32"):
        variant_options(["coreml-float32"])
