"""Magnitude pruning (training/worker/pruning.py): the schedule by hand, the options, the masks,
the measured sparsity, a resumed run, and what 80% zeros do to a compressed full-int8 file."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from training.worker.pruning import (
    MIN_WEIGHTS,
    MagnitudePruning,
    PruningConfig,
    gzip_size,
    last_update_step,
    magnitude_mask,
    prunable_kernels,
    sparsity_at,
    sparsity_in_force,
    sparsity_report,
)
from training.worker.schedule import SpecError


# --- the schedule and the options ---------------------------------------------------------
def test_schedule_follows_the_cubic_formula_by_hand():
    config = PruningConfig(sparsity=0.8, begin_step=10, end_step=110, frequency=10)
    # s_t = s_f + (0 - s_f) (1 - (t - 10) / 100)^3
    assert sparsity_at(0, config) == 0.0
    assert sparsity_at(10, config) == 0.0  # the first update prunes nothing
    assert sparsity_at(35, config) == pytest.approx(0.8 - 0.8 * 0.75**3)  # 0.4625
    assert sparsity_at(60, config) == pytest.approx(0.8 - 0.8 * 0.5**3)  # 0.7, the middle
    assert sparsity_at(110, config) == pytest.approx(0.8)
    assert sparsity_at(500, config) == pytest.approx(0.8)
    # between updates the masks of the last update stay in force
    assert last_update_step(9, config) is None
    assert last_update_step(67, config) == 60
    assert sparsity_in_force(67, config) == pytest.approx(0.7)
    # an end that is not a multiple of the frequency is still an update step
    odd = PruningConfig(sparsity=0.5, begin_step=0, end_step=105, frequency=10)
    assert last_update_step(104, odd) == 100
    assert last_update_step(105, odd) == 105
    assert sparsity_in_force(105, odd) == pytest.approx(0.5)


def test_options_as_fractions_of_the_run():
    assert PruningConfig.from_options({}, 100) is None
    assert PruningConfig.from_options({"pruning": None}, 100) is None
    config = PruningConfig.from_options({"alpha": 0.5, "pruning": {"sparsity": 0.5, "begin": 0.1, "end": 0.6, "frequency": 7}}, 200)
    assert config == PruningConfig(sparsity=0.5, begin_step=20, end_step=120, frequency=7)
    auto = PruningConfig.from_options({"pruning": {"sparsity": 0.75}}, 10_000)  # begin 0, end 0.8, frequency auto
    assert auto == PruningConfig(sparsity=0.75, begin_step=0, end_step=8000, frequency=100, power=3.0)
    short = PruningConfig.from_options({"pruning": {"sparsity": 0.75}}, 400)
    assert short is not None and short.frequency == 8  # 320 steps / 40 updates
    assert PruningConfig.from_options({"pruning": 0.6}, 50) == PruningConfig(sparsity=0.6, begin_step=0, end_step=40, frequency=1)


@pytest.mark.parametrize(
    "pruning, words",
    [
        ({"sparsity": 1.0}, "between 0 and 1"),
        ({"sparsity": 0}, "between 0 and 1"),
        ({"sparsity": "half"}, "must be a number"),
        ({"begin": 0.1}, 'needs a "sparsity"'),
        ({"sparsity": 0.5, "begin": 0.8, "end": 0.5}, "must come after"),
        ({"sparsity": 0.5, "end": 1.5}, r"in \(0, 1\]"),
        ({"sparsity": 0.5, "frequency": 0}, "whole number of steps"),
        ({"sparsity": 0.5, "frequency": 2.5}, "whole number of steps"),
        ({"sparsity": 0.5, "amount": 3}, "Unknown pruning option"),
        ({"sparsity": 0.5, "begin": 0.5, "end": 0.52}, "spans no whole step"),
        ("lots", "must be a mapping"),
    ],
)
def test_bad_options_say_what_is_wrong(pruning, words):
    with pytest.raises(ValueError, match=words) as caught:
        PruningConfig.from_options({"pruning": pruning}, 20)
    assert isinstance(caught.value, SpecError)  # the run loop reports it as the spec's problem
    assert str(caught.value).endswith(".")


def test_mask_zeroes_the_smallest_magnitudes_and_breaks_ties_by_position():
    weights = np.array([[0.5, -0.1, 0.0], [0.3, -0.2, 0.1]])
    mask = magnitude_mask(weights, 0.5)  # 3 of 6: 0.0, then the tied 0.1s
    assert mask.tolist() == [[True, False, False], [True, True, False]]
    tied = magnitude_mask(np.ones(8), 0.25)
    assert tied.tolist() == [False, False] + [True] * 6
    assert magnitude_mask(weights, 0.0).all()


# --- models ----------------------------------------------------------------------------------
def small_model(seed: int = 0):
    """A nested backbone (first conv 432 weights: skipped; conv 6912; depthwise 1200) and a head
    (fc 3072; scores 192: too small to prune)."""
    import keras

    keras.utils.set_random_seed(seed)
    inner_in = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inner_in)
    x = keras.layers.Conv2D(48, 3, strides=2, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.DepthwiseConv2D(5, padding="same", activation="relu", name="depthwise")(x)
    backbone = keras.Model(inner_in, x, name="backbone")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    x = keras.layers.Dense(64, activation="relu", name="fc")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def toy_data(count: int = 64):
    rng = np.random.default_rng(1)
    return rng.normal(size=(count, 16, 16, 3)).astype("float32"), rng.integers(0, 3, count)


def fit_epochs(model, callback, first: int, last: int) -> None:
    """Like the run loop: one fit per epoch, 8 steps each."""
    x, y = toy_data()
    for epoch in range(first, last + 1):
        model.fit(x, y, batch_size=8, epochs=epoch, initial_epoch=epoch - 1, shuffle=False, verbose=0, callbacks=[callback])


def zeros_of(model) -> dict[str, np.ndarray]:
    import keras

    return {name: keras.ops.convert_to_numpy(v) == 0 for name, v in prunable_kernels(model)}


def test_the_selection_walks_nested_models_and_skips_small_and_first_layers():
    names = [name for name, _ in prunable_kernels(small_model())]
    assert names == ["backbone/conv", "backbone/depthwise", "fc"]
    all_of_them = [name for name, _ in prunable_kernels(small_model(), min_weights=0, skip_first_conv=False)]
    assert all_of_them == ["backbone/stem", "backbone/conv", "backbone/depthwise", "fc", "scores"]


def test_report_counts_the_zeros_in_the_weights():
    import keras

    inputs = keras.Input((32,))
    big = keras.layers.Dense(64, name="big")  # 2048 weights
    small = keras.layers.Dense(4, name="small")  # 256 weights: below MIN_WEIGHTS
    model = keras.Model(inputs, small(big(inputs)))
    kernel = np.ones((32, 64), dtype="float32")
    kernel[:8] = 0.0  # 8 rows of 64: 512 zeros
    kernel[8, :3] = 0.0  # 3 more
    big.kernel.assign(kernel)
    small.kernel.assign(np.zeros((64, 4), dtype="float32"))
    report = sparsity_report(model, PruningConfig(sparsity=0.25, begin_step=0, end_step=10))
    assert report["layers"] == [{"name": "big", "weights": 2048, "zeros": 515, "sparsity": 515 / 2048}]
    assert report["overall"] == 515 / 2048
    assert report["target"] == 0.25
    assert sparsity_report(model)["target"] is None
    everything = sparsity_report(model, PruningConfig(sparsity=0.25, begin_step=0, end_step=10, min_weights=0))
    assert everything["weights"] == 2048 + 256 and everything["zeros"] == 515 + 256
    assert MIN_WEIGHTS == 1024


def test_gzip_size_of_a_file_and_of_a_folder(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    (tmp_path / "noise.bin").write_bytes(noise)
    (tmp_path / "zeros.bin").write_bytes(bytes(50_000))
    assert gzip_size(tmp_path / "noise.bin") == len(gzip.compress(noise, compresslevel=9, mtime=0))
    assert gzip_size(tmp_path / "zeros.bin") < 1000 < 50_000 <= gzip_size(tmp_path / "noise.bin")
    folder = tmp_path / "saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "data").write_bytes(noise)
    (folder / "saved_model.pb").write_bytes(bytes(1000))
    size = gzip_size(folder)
    assert 50_000 < size < 52_000
    assert gzip_size(folder) == size  # contents only: no times in it


# --- training with the callback ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("target", [0.5, 0.8])
def test_training_reaches_the_target_and_the_masks_hold(target):
    model = small_model()
    config = PruningConfig(sparsity=target, begin_step=0, end_step=24, frequency=4)
    callback = MagnitudePruning(model, config)
    fit_epochs(model, callback, 1, 3)  # 24 steps: the end of the schedule
    report = sparsity_report(model, config)
    assert report["overall"] == pytest.approx(target, abs=0.01)
    for layer in report["layers"]:
        assert layer["sparsity"] == pytest.approx(target, abs=0.01), layer
    assert callback.mask_step == 24  # the last update: the end of the schedule
    at_end = zeros_of(model)

    fit_epochs(model, callback, 4, 5)  # 16 more optimizer steps at the final masks
    after = zeros_of(model)
    for name, zeros in at_end.items():
        assert (after[name] == zeros).all(), name  # the same weights, no more, no fewer
    assert sparsity_report(model, config)["overall"] == pytest.approx(target, abs=0.01)

    # Without the callback one Adam step moves the pruned weights: re-applying is what holds them.
    x, y = toy_data(8)
    model.train_on_batch(x, y)
    assert sparsity_report(model, config)["overall"] < target - 0.1


@pytest.mark.slow
def test_a_resumed_run_keeps_its_zeros_and_ends_where_the_uninterrupted_one_does(tmp_path):
    config = PruningConfig(sparsity=0.7, begin_step=0, end_step=30, frequency=5)

    straight = small_model()
    fit_epochs(straight, MagnitudePruning(straight, config), 1, 4)  # 32 steps

    first = small_model()
    fit_epochs(first, MagnitudePruning(first, config), 1, 2)  # 16 steps: masks of step 15 in force
    checkpoint = tmp_path / "checkpoint.keras"
    first.save(checkpoint)
    zeros_then = zeros_of(first)
    assert sparsity_report(first, config)["overall"] == pytest.approx(sparsity_at(15, config), abs=0.01)

    # A new process: build, compile, restore weights and optimizer state as the run loop does.
    resumed = small_model(seed=123)
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(str(checkpoint))
    assert int(resumed.optimizer.iterations.numpy()) == 16
    callback = MagnitudePruning(resumed, config)
    fit_epochs(resumed, callback, 3, 4)
    zeros_now = zeros_of(resumed)
    for name, zeros in zeros_then.items():
        assert zeros_now[name][zeros].all(), name  # every weight pruned before the restart still is
    assert sparsity_report(resumed, config)["overall"] == pytest.approx(0.7, abs=0.01)

    expected = zeros_of(straight)
    for name in expected:
        assert (zeros_now[name] == expected[name]).all(), name  # the same masks as without the restart
    import keras

    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5)


@pytest.mark.slow
def test_a_pruned_classifier_exports_to_full_int8_and_compresses_better(tmp_path):
    import keras

    from export.model_formats.convert import export_model
    from training.worker.classify import ClassifyTask

    from .toy import make_spec

    keras.utils.set_random_seed(0)
    task = ClassifyTask()
    train_model, export = task.build(make_spec([], options={"alpha": 0.25}))  # MobileNetV3-Small, 32 px
    task.compile(train_model, keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 32, 32, 3)).astype("float32")
    y = {"scores": rng.integers(0, 3, 32)}
    calibration = [x[i : i + 8] for i in range(0, 32, 8)]

    def int8_gzip(folder):
        records = export_model(
            export, tmp_path / folder, representative_data=calibration, tflite_variants=("int8",), onnx=False, keras_file=False
        )
        int8 = [r for r in records if r.variant == "int8"][0]
        assert int8.ok and int8.path is not None, int8.error
        return int8.size_bytes, gzip_size(int8.path)

    train_model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 4 dense steps
    dense_raw, dense = int8_gzip("dense")

    config = PruningConfig(sparsity=0.8, begin_step=4, end_step=10, frequency=2)
    callback = MagnitudePruning(export, config)  # the export model shares the trained layers
    assert any(name.startswith("MobileNetV3Small/") for name, _ in callback.kernels)
    train_model.fit(x, y, batch_size=8, epochs=3, initial_epoch=1, verbose=0, callbacks=[callback])  # to step 12
    report = sparsity_report(export, config)
    assert report["overall"] == pytest.approx(0.8, abs=0.01)
    pruned_raw, pruned = int8_gzip("pruned")
    print(f"full int8 raw / gzip -9: dense {dense_raw} / {dense} B, 80% pruned {pruned_raw} / {pruned} B")
    assert pruned < dense
    assert abs(pruned_raw - dense_raw) < 0.05 * dense_raw  # the zeros only pay off once compressed
    assert math.isfinite(float(np.asarray(export(x[:2])["scores"]).sum()))
