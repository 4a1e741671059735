"""Tiny models for the model-format tests, built and exported once per session.

* a 32x32 RGB classifier with ``Rescaling(1/255)`` inside (so every file takes 0-255 RGB), trained
  for a few seconds on a learnable toy (the class is the brightest colour channel), so that int8
  and float files can be compared on argmax agreement, not only on raw numbers;
* a "detector" with two separate outputs, ``boxes`` (sigmoid, 0-1) and ``scores``, exported with
  both kept float32 in the int8 file, as a real detector's decoded outputs would be.

TensorFlow is imported inside the fixtures, so collecting these tests costs nothing when they are
deselected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ["red", "green", "blue"]


def colour_images(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """0-255 float RGB images whose class is the channel lifted above the noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), size=n)
    images = rng.uniform(0, 110, size=(n, 32, 32, 3)).astype(np.float32)
    images[np.arange(n), :, :, labels] += rng.uniform(90, 145, size=(n, 1, 1)).astype(np.float32)
    return images, labels


@pytest.fixture(scope="session")
def keras():
    import keras as keras_module

    keras_module.utils.set_random_seed(0)
    return keras_module


@pytest.fixture(scope="session")
def classifier(keras):
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)  # 1152 weights: dynamic int8 quantizes it
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="toy_classifier")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    images, labels = colour_images(384, seed=1)
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def detector(keras):
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    boxes = keras.layers.Dense(4, activation="sigmoid", name="boxes")(x)
    scores = keras.layers.Dense(2, activation="sigmoid", name="scores")(x)
    return keras.Model(inputs, [boxes, scores], name="toy_detector")


@pytest.fixture(scope="session")
def calibration() -> list[np.ndarray]:
    """Representative batches: the same 0-255 RGB the files take at inference."""
    images, _ = colour_images(64, seed=2)
    return [images[i : i + 16] for i in range(0, 64, 16)]


@pytest.fixture(scope="session")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    return colour_images(48, seed=3)


@pytest.fixture(scope="session")
def classifier_export(classifier, calibration, tmp_path_factory):
    from export.model_formats.convert import export_model

    out = tmp_path_factory.mktemp("classifier")
    return {r.key: r for r in export_model(classifier, out, representative_data=calibration)}


@pytest.fixture(scope="session")
def detector_export(detector, calibration, tmp_path_factory):
    from export.model_formats.convert import export_model

    out = tmp_path_factory.mktemp("detector")
    records = export_model(detector, out, representative_data=calibration, float_outputs=["boxes", "scores"])
    return {r.key: r for r in records}


@pytest.fixture
def copy_of(tmp_path):
    """A writable copy of an exported file (session files are shared by tests)."""

    def make(path: Path) -> Path:
        target = tmp_path / path.name
        target.write_bytes(path.read_bytes())
        return target

    return make
