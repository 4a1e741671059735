"""The weight average (option ``ema``): the update rule with its warm-up, the swap in and out, and
the file a resumed run reads back."""

from __future__ import annotations

import numpy as np
import pytest

from training.worker.averaging import WeightAverage, decay_at


def _model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


class _Recorder:
    """Collects the trainable weights after every batch, before the average sees them."""

    def __new__(cls, model):
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.after = []

            def on_train_batch_end(self, batch, logs=None):
                self.after.append([v.numpy().copy() for v in model.trainable_variables])

        return Recorder()


def test_decay_warms_up_then_holds():
    assert decay_at(0.99, 0) == pytest.approx(0.1)  # the first update mostly takes the new weights
    assert decay_at(0.99, 90) == pytest.approx(91 / 100)
    assert decay_at(0.99, 10_000) == 0.99


def test_the_average_follows_the_rule_after_every_step():
    model = _model()
    start = [v.numpy().copy() for v in model.trainable_variables]
    average = WeightAverage(model, 0.5)
    recorder = _Recorder(model)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[recorder, average])

    assert average.updates == 6 == len(recorder.after)
    expected = start
    for n, weights in enumerate(recorder.after):
        d = decay_at(0.5, n)
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights)]
    for got, want in zip(average.shadow, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    raw = [v.numpy() for v in model.trainable_variables]
    assert not all(np.allclose(a.numpy(), r) for a, r in zip(average.shadow, raw))  # it is not the last step


def test_swapped_puts_the_average_in_and_the_raw_weights_back():
    model = _model()
    average = WeightAverage(model, 0.9)
    for shadow in average.shadow:
        shadow.assign(np.full(shadow.shape, 0.25, "float32"))
    raw = [v.numpy().copy() for v in model.trainable_variables]
    x = np.ones((2, 3), "float32")
    with average.swapped():
        assert all(np.all(v.numpy() == 0.25) for v in model.trainable_variables)
        inside = model.predict(x, verbose=0)
    # made with the average: every weight 0.25, so hidden = 3 * 0.25 + 0.25 = 1 and out = 2 * 0.25 + 0.25
    np.testing.assert_allclose(inside, np.full((2, 1), 0.75, "float32"), rtol=1e-6)
    for v, r in zip(model.trainable_variables, raw):
        np.testing.assert_array_equal(v.numpy(), r)  # and the raw weights are back exactly


def test_the_file_round_trips_and_a_foreign_one_is_refused(tmp_path):
    model = _model()
    average = WeightAverage(model, 0.9)
    for i, shadow in enumerate(average.shadow):
        shadow.assign(np.full(shadow.shape, float(i), "float32"))
    average.updates = 42
    average.save(tmp_path)

    again = WeightAverage(_model(seed=1), 0.9)
    assert again.load(tmp_path) and again.updates == 42
    for i, shadow in enumerate(again.shadow):
        assert np.all(shadow.numpy() == float(i))

    import keras

    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    assert not WeightAverage(other, 0.9).load(tmp_path)  # shapes differ
    assert not WeightAverage(other, 0.9).load(tmp_path / "nowhere")

    again.restart(7)
    assert again.updates == 7
    for shadow, variable in zip(again.shadow, again.variables):
        np.testing.assert_array_equal(shadow.numpy(), variable.numpy())
