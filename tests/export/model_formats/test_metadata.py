"""Labels and the model card travel inside the .tflite; LiteRT still runs the file identically."""

from __future__ import annotations

import dataclasses
import zipfile

import numpy as np
import pytest

from .conftest import CLASSES

pytestmark = pytest.mark.slow

CARD = {"task": "classify", "input": {"size": [32, 32], "range": [0, 255], "layout": "NHWC RGB"}, "name": "toy ✓"}


@pytest.mark.parametrize("key", ["tflite-float32", "tflite-int8"])
def test_embed_read_back_and_the_file_still_runs(classifier_export, copy_of, test_images, key):
    from export.model_formats.measure import measure_latency, run_file
    from export.model_formats.metadata import embed_metadata, read_embedded

    record = classifier_export[key]
    path = copy_of(record.path)
    images, _ = test_images
    (before,) = run_file(path, [images])
    assert read_embedded(path) == ([], {})

    embed_metadata(path, labels=CLASSES, card=CARD)
    assert read_embedded(path) == (CLASSES, CARD)
    assert path.read_bytes().startswith(record.path.read_bytes())
    assert set(zipfile.ZipFile(path).namelist()) == {"labels.txt", "model_card.json"}

    (after,) = run_file(path, [images])
    np.testing.assert_array_equal(after["probs"], before["probs"])
    assert measure_latency(path, runs=2, warmup=1, threads=[1])[0].median_ms > 0

    refreshed = dataclasses.replace(record, path=path).refreshed()
    assert refreshed.size_bytes == path.stat().st_size > record.size_bytes
    assert refreshed.sha256 != record.sha256


def test_embedding_again_replaces_and_strip_restores(classifier_export, copy_of):
    from export.model_formats.metadata import embed_metadata, read_embedded, strip_embedded

    original = classifier_export["tflite-float16"].path.read_bytes()
    path = copy_of(classifier_export["tflite-float16"].path)
    embed_metadata(path, labels=["a", "b"], card={"v": 1})
    embed_metadata(path, labels=["c"], card={"v": 2})
    assert read_embedded(path) == (["c"], {"v": 2})
    assert len(zipfile.ZipFile(path).namelist()) == 2
    assert strip_embedded(path) is True
    assert path.read_bytes() == original
    assert strip_embedded(path) is False


def test_only_tflite_files_and_clean_labels(classifier_export, copy_of):
    from export.model_formats.metadata import embed_metadata

    with pytest.raises(ValueError, match="not a TFLite"):
        embed_metadata(copy_of(classifier_export["onnx-float32"].path), labels=["a"], card={})
    with pytest.raises(ValueError, match="single lines"):
        embed_metadata(copy_of(classifier_export["tflite-float32"].path), labels=["a\nb"], card={})
