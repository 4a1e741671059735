"""Keras pieces of the run loop: the learning-rate schedule, the optimizer, BatchNormalization
momentum, and loading earlier weights by layer name and shape.

Imports Keras: only the training process uses this module.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
from keras import ops

from .schedule import SpecError, learning_rate_at


@keras.saving.register_keras_serializable(package="lensforge")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine decay, per optimizer step (:func:`schedule.learning_rate_at`).

    The step is the optimizer's ``iterations``, which a checkpoint restores, so a resumed run
    continues the curve where it stopped.
    """

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> None:
        super().__init__()
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        base = ops.cast(self.base_lr, "float32")
        warmup = float(max(self.warmup_steps, 1))
        warm = base * (step + 1.0) / warmup
        decay_steps = float(max(1, self.total_steps - self.warmup_steps))
        progress = ops.clip((step - float(self.warmup_steps)) / decay_steps, 0.0, 1.0)
        floor = base * self.min_ratio
        cosine = floor + (base - floor) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps <= 0:
            return cosine
        return ops.where(step < float(self.warmup_steps), warm, cosine)

    def get_config(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_ratio": self.min_ratio,
        }


def learning_rate(schedule: str, *, base_lr: float, total_steps: int, warmup_steps: int, min_ratio: float = 0.0) -> Any:
    """What the optimizer's ``learning_rate`` is: a :class:`WarmupCosine` or a constant."""
    learning_rate_at(0, base_lr=base_lr, total_steps=total_steps, warmup_steps=warmup_steps, schedule=schedule)
    if schedule == "constant":
        return float(base_lr)
    return WarmupCosine(base_lr, total_steps, warmup_steps, min_ratio)


def make_optimizer(options: dict[str, Any], lr: Any) -> Any:
    """Adam (default) or AdamW (``options.optimizer = "adamw"``, ``options.weight_decay``)."""
    name = str(options.get("optimizer", "adam")).lower()
    clipnorm = options.get("clipnorm")
    extra = {"clipnorm": float(clipnorm)} if clipnorm else {}
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **extra)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=float(options.get("weight_decay", 1e-4)), **extra)
    raise SpecError(f"Unknown optimizer {name!r}; choose adam or adamw.")


def current_lr(optimizer: Any) -> float:
    """The learning rate the optimizer's next step will use."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


def leaf_layers(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, layer)`` of every layer that is not a model itself, nested models walked into,
    each layer once (a layer shared by two models appears under the first)."""
    seen: set[int] = set()

    def walk(container: Any, path: str) -> Iterator[tuple[str, Any]]:
        for layer in container.layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            name = f"{path}{layer.name}"
            if hasattr(layer, "layers") and isinstance(layer, keras.Model):
                yield from walk(layer, f"{name}/")
            else:
                yield name, layer

    yield from walk(model, prefix)


def set_bn_momentum(model: Any, momentum: float) -> int:
    """Set ``momentum`` on every BatchNormalization layer of the model (nested ones too), before
    the first training step traces it; returns how many there were."""
    count = 0
    for _, layer in leaf_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            count += 1
    return count


def load_matching_weights(model: Any, path: str | Path) -> dict[str, Any]:
    """Copy weights from a ``.keras`` / ``.h5`` model file into ``model`` wherever a layer of the
    same name (path) has weights of the same shapes; others are skipped (e.g. a classifier head
    for another number of classes). Returns what was loaded and skipped.

    A weights-only file (``.weights.h5``) cannot be matched by name: it is loaded with Keras's
    ``skip_mismatch``, which matches by position.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"The initial weights file {path} does not exist.")
    if path.name.endswith(".weights.h5"):
        model.load_weights(str(path), skip_mismatch=True)
        return {"loaded": None, "of": None, "skipped": [], "missing": [], "note": "weights-only file, loaded by position"}
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise SpecError(f"The initial weights file {path.name} is not a Keras model archive.")
    try:
        source = keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise SpecError(f"The initial weights file {path.name} cannot be loaded ({type(exc).__name__}: {exc}).")
    found: dict[str, list[Any]] = {}
    by_name: dict[str, list[list[Any]]] = {}
    for name, layer in leaf_layers(source):
        weights = layer.get_weights()
        if weights:
            found[name] = weights
            by_name.setdefault(name.rsplit("/", 1)[-1], []).append(weights)
    loaded, skipped, missing, total = 0, [], [], 0
    for name, layer in leaf_layers(model):
        current = layer.get_weights()
        if not current:
            continue
        total += 1
        weights = found.get(name)
        if weights is None:
            candidates = by_name.get(name.rsplit("/", 1)[-1], [])
            weights = candidates[0] if len(candidates) == 1 else None
        if weights is None:
            missing.append(name)
            continue
        if len(weights) != len(current) or any(w.shape != c.shape for w, c in zip(weights, current)):
            skipped.append(name)
            continue
        layer.set_weights(weights)
        loaded += 1
    return {"loaded": loaded, "of": total, "skipped": skipped, "missing": missing}
