"""Exponential moving average of the weights (option ``ema``, any task).

A small dataset trained from scratch gives a noisy model: with a few images per batch, the weights
after the last step of an epoch depend on which images that step saw, and the validation metric
jumps from epoch to epoch. Averaging the weights over the last few hundred steps (Polyak
averaging, as the mobile detectors of the YOLO family do by default) removes most of that noise
at no cost at inference: the averaged weights are what is validated, chosen as the best epoch and
exported, while the optimizer keeps training the raw ones.

``shadow = d * shadow + (1 - d) * weight`` after every optimizer step, with
``d = min(ema, (1 + n) / (10 + n))`` after ``n`` updates (``tf.train.ExponentialMovingAverage``'s
warm-up), so the first epochs are not averaged with the random initial weights.

Keras's own ``use_ema`` is not used: ``fit`` overwrites the weights with their average at the end
of every call, and the run calls ``fit`` once per epoch, so training would restart from the
average each epoch. The average is written next to the checkpoint (``average.npz``) and read back
on resume, so a resumed run averages exactly as an uninterrupted one.

Imports TensorFlow: only the training process uses this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

AVERAGE_FILE = "average.npz"


def decay_at(ema: float, updates: int) -> float:
    """The decay of update number ``updates + 1`` (0-based count of the updates done)."""
    return min(float(ema), (1.0 + updates) / (10.0 + updates))


class WeightAverage(keras.callbacks.Callback):
    """Keeps the moving average of ``model``'s trainable variables, updated after each batch."""

    def __init__(self, model: Any, ema: float) -> None:
        super().__init__()
        self.ema = float(ema)
        self.variables = list(model.trainable_variables)
        self.shadow = [tf.Variable(v.value, trainable=False) for v in self.variables]
        self.updates = 0
        self._update = tf.function(self._update_eager, reduce_retracing=True)

    def _update_eager(self, decay: Any) -> None:
        for shadow, variable in zip(self.shadow, self.variables):
            shadow.assign(decay * shadow + (1.0 - decay) * tf.cast(variable.value, shadow.dtype))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update(tf.constant(decay_at(self.ema, self.updates), tf.float32))
        self.updates += 1

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """The averaged weights in the model for the ``with`` block, the raw ones back after it."""
        raw = [v.numpy() for v in self.variables]
        for variable, shadow in zip(self.variables, self.shadow):
            variable.assign(shadow)
        try:
            yield
        finally:
            for variable, value in zip(self.variables, raw):
                variable.assign(value)

    def restart(self, updates: int) -> None:
        """Start the average again from the model's current weights, as after ``updates`` updates."""
        for shadow, variable in zip(self.shadow, self.variables):
            shadow.assign(variable.value)
        self.updates = int(updates)

    def save(self, folder: Path) -> None:
        """``average.npz`` (the shadow variables and the update count), replaced atomically."""
        tmp = folder / ".average.tmp.npz"
        with open(tmp, "wb") as handle:
            np.savez(handle, updates=np.int64(self.updates), **{f"v{i}": s.numpy() for i, s in enumerate(self.shadow)})
        os.replace(tmp, folder / AVERAGE_FILE)

    def load(self, folder: Path) -> bool:
        """Read the average back (True), or keep starting from the current weights when the file is
        missing or does not fit this model (False)."""
        path = folder / AVERAGE_FILE
        if not path.is_file():
            return False
        with np.load(path) as data:
            values = [data[f"v{i}"] for i in range(len(self.shadow)) if f"v{i}" in data]
            if len(values) != len(self.shadow) or any(v.shape != tuple(s.shape) for v, s in zip(values, self.shadow)):
                return False
            for shadow, value in zip(self.shadow, values):
                shadow.assign(value)
            self.updates = int(data["updates"])
        return True
