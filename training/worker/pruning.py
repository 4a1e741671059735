"""Magnitude pruning for Keras 3 models: the schedule, a training callback, and the figures.

TensorFlow Model Optimization's pruning wrappers work with Keras 2 only
(tensorflow/model-optimization#1119), so this module does the same job for Keras 3 without
wrapping any layer: the model keeps its layers, names and checkpoint format, and what ships is an
ordinary model whose kernels hold many exact zeros.

How it is used::

    config = PruningConfig.from_options(spec.options, steps.total_steps)   # None: no pruning
    if config is not None:
        callbacks.append(MagnitudePruning(train_model, config))
    ...
    sparsity_report(export_model, config)   # measured from the weights
    gzip_size("model_int8.tflite")          # what the zeros save, once compressed
    file_sizes("model_int8.tflite")         # {"bytes": raw, "gzip_bytes": compressed}

The schedule is the polynomial one of Zhu & Gupta 2017 ("To prune, or not to prune"): the
sparsity rises from 0 at ``begin_step`` to the target at ``end_step`` as
``s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n Δt))^3`` with ``s_i = 0``, fast at first, when there
are many redundant weights, and slowly near the end, so the network can recover. Every
``frequency`` optimizer steps within the span each pruned layer's mask is recomputed: the smallest
magnitudes of that layer, up to the scheduled fraction, are zeroed. After every batch the masks are
multiplied in again, so the optimizer's updates (a zeroed weight still has a gradient, and Adam's
momentum moves it regardless) never let a pruned weight grow back.

Steps are the optimizer's ``iterations``, which a checkpoint restores. The masks themselves are
not saved anywhere: after a restart the callback recomputes them from the restored weights at the
sparsity in force at the restored step (that of the last update, not of the curve). The weights
pruned before the restart are exact zeros, hence the smallest magnitudes, so they are exactly the
ones pruned again (unless a kept weight happens to be exactly 0.0 too, which trained floats
practically never are), and the resumed run continues as the uninterrupted one would have: the
masks are deterministic, ties broken by position. The same recomputation runs at the start of
every ``fit`` (weights may have been loaded in between) and at each update, where the old mask is
applied first, so a pruned weight stays pruned while the sparsity only grows.

The sparsity reaches the target at ``end_step`` only: a run that keeps its "best" epoch should
choose among the epochs from there on, or it may ship a less sparse model.

Pruned weights make a file smaller only once it is compressed (a TFLite file stores a zero like
any other number), so :func:`gzip_size` is the figure to show next to the raw size.

Imports Keras: only the training process uses this module.
"""

from __future__ import annotations

import gzip
import math
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .optim import leaf_layers
from .schedule import SpecError

MIN_WEIGHTS = 1024
"""Kernels with fewer weights than this are left dense. Small layers (the first 3x3 convolution
over RGB, depthwise 3x3 kernels of narrow blocks, squeeze-and-excite projections) hold a tiny share
of a MobileNet's weights, so pruning them saves next to nothing in the file, while each of their
weights carries much more of the accuracy: the usual advice (Zhu & Gupta; TF Model Optimization's
guide) is to prune the big layers and leave the small ones."""

AUTO_UPDATES = 40
"""With ``frequency: "auto"``, about this many mask updates across the pruning span, between 1
and :data:`MAX_AUTO_FREQUENCY` steps apart (Zhu & Gupta update every 100 to 1000 steps on
ImageNet; our runs are much shorter)."""
MAX_AUTO_FREQUENCY = 100

OPTION_KEYS = ("sparsity", "begin", "end", "frequency", "power", "min_weights", "skip_first_conv")
PRUNED_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


@dataclass(frozen=True)
class PruningConfig:
    """What to prune and when, in optimizer steps.

    ``sparsity``: the fraction of each pruned kernel that is zero at the end, 0 < s < 1.
    ``begin_step`` / ``end_step``: the schedule's span (the sparsity is 0 before it and
    ``sparsity`` from ``end_step`` on). ``frequency``: optimizer steps between mask updates (an
    update also happens at ``end_step``, so the target is reached even when the span is not a
    multiple of it). ``power``: the schedule's exponent (3 in Zhu & Gupta).

    Pruned: the kernels of Conv2D, DepthwiseConv2D and Dense layers that are trainable and have
    at least ``min_weights`` weights (:data:`MIN_WEIGHTS` says why), except the model's first
    convolution when ``skip_first_conv`` (it sees the raw pixels and has few weights). Biases,
    BatchNormalization and everything else stay dense.
    """

    sparsity: float
    begin_step: int
    end_step: int
    frequency: int = 20
    power: float = 3.0
    min_weights: int = MIN_WEIGHTS
    skip_first_conv: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.sparsity < 1:
            raise SpecError(f"The pruning sparsity must be between 0 and 1 (exclusive), got {self.sparsity!r}.")
        if self.begin_step < 0 or self.end_step <= self.begin_step:
            raise SpecError(
                f"Pruning must end after it begins: begin step {self.begin_step}, end step {self.end_step}."
            )
        if self.frequency < 1:
            raise SpecError(f"The pruning frequency must be at least 1 step, got {self.frequency!r}.")
        if not self.power > 0:
            raise SpecError(f"The pruning schedule's power must be positive, got {self.power!r}.")
        if self.min_weights < 0:
            raise SpecError(f"pruning.min_weights must be 0 or more, got {self.min_weights!r}.")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None, total_steps: int) -> PruningConfig | None:
        """The config from a spec's ``options["pruning"]``, or None when the run does not prune.

        ``{"sparsity": 0.5, "begin": 0.0, "end": 0.8, "frequency": 20}``: ``begin`` and ``end``
        are fractions of ``total_steps`` (defaults 0.0 and 0.8: the last fifth of the run
        fine-tunes at the final sparsity); ``frequency`` is steps or ``"auto"`` (the default,
        :data:`AUTO_UPDATES`). Optional: ``power`` (3), ``min_weights`` (1024),
        ``skip_first_conv`` (true). A bare number is the sparsity with those defaults.
        Raises :class:`SpecError` (a ValueError) with one sentence for a bad value.
        """
        raw = (options or {}).get("pruning")
        if raw is None or raw is False:
            return None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            raw = {"sparsity": raw}
        if not isinstance(raw, Mapping):
            raise SpecError(f'options.pruning must be a mapping such as {{"sparsity": 0.5}}, got {raw!r}.')
        unknown = sorted(set(raw) - set(OPTION_KEYS))
        if unknown:
            raise SpecError(f"Unknown pruning option(s) {', '.join(map(str, unknown))}; use {', '.join(OPTION_KEYS)}.")
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise SpecError(f"Pruning needs a run of at least one step, got {total_steps!r} steps.")
        if "sparsity" not in raw:
            raise SpecError('options.pruning needs a "sparsity": the fraction of weights to zero, e.g. 0.5.')
        sparsity = _number(raw["sparsity"], "sparsity")
        if not 0 < sparsity < 1:
            raise SpecError(f"pruning.sparsity must be between 0 and 1 (exclusive), got {raw['sparsity']!r}.")
        begin = _number(raw.get("begin", 0.0), "begin")
        end = _number(raw.get("end", 0.8), "end")
        if not 0 <= begin < 1:
            raise SpecError(f"pruning.begin is a fraction of the run's steps in [0, 1), got {raw.get('begin')!r}.")
        if not 0 < end <= 1:
            raise SpecError(f"pruning.end is a fraction of the run's steps in (0, 1], got {raw.get('end')!r}.")
        if end <= begin:
            raise SpecError(f"pruning.end ({end}) must come after pruning.begin ({begin}).")
        begin_step, end_step = round(begin * total_steps), round(end * total_steps)
        if end_step <= begin_step:
            raise SpecError(
                f"Pruning from {begin} to {end} of a {total_steps}-step run spans no whole step; "
                "train longer or widen the span."
            )
        span = end_step - begin_step
        frequency_option = raw.get("frequency", "auto")
        if frequency_option == "auto":
            frequency = min(MAX_AUTO_FREQUENCY, max(1, span // AUTO_UPDATES))
        elif isinstance(frequency_option, int) and not isinstance(frequency_option, bool) and frequency_option >= 1:
            frequency = frequency_option
        else:
            raise SpecError(f'pruning.frequency must be a whole number of steps (1 or more) or "auto", got {frequency_option!r}.')
        power = _number(raw.get("power", 3.0), "power")
        if not power > 0:
            raise SpecError(f"pruning.power must be positive, got {raw.get('power')!r}.")
        min_weights = raw.get("min_weights", MIN_WEIGHTS)
        if isinstance(min_weights, bool) or not isinstance(min_weights, int) or min_weights < 0:
            raise SpecError(f"pruning.min_weights must be a whole number, 0 or more, got {min_weights!r}.")
        skip_first = raw.get("skip_first_conv", True)
        if not isinstance(skip_first, bool):
            raise SpecError(f"pruning.skip_first_conv must be true or false, got {skip_first!r}.")
        return cls(sparsity, begin_step, end_step, frequency, power, min_weights, skip_first)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"pruning.{name} must be a number, got {value!r}.")
    return float(value)


# --- the schedule ---------------------------------------------------------------------------
def sparsity_at(step: int | float, config: PruningConfig) -> float:
    """The scheduled sparsity at optimizer step ``step``: 0 before ``begin_step``, then
    ``s_f (1 - (1 - (t - t0) / (end - t0))^power)``, and ``s_f`` from ``end_step`` on.

    The curve itself, not what is in force between two mask updates (:func:`sparsity_in_force`).
    """
    if step < config.begin_step:
        return 0.0
    progress = min(1.0, (step - config.begin_step) / (config.end_step - config.begin_step))
    return config.sparsity * (1.0 - (1.0 - progress) ** config.power)


def last_update_step(step: int, config: PruningConfig) -> int | None:
    """The latest mask-update step at or before ``step`` (None before ``begin_step``): the
    multiples of ``frequency`` from ``begin_step``, and ``end_step``."""
    if step < config.begin_step:
        return None
    if step >= config.end_step:
        return config.end_step
    return config.begin_step + (step - config.begin_step) // config.frequency * config.frequency


def sparsity_in_force(step: int, config: PruningConfig) -> float:
    """The sparsity of the masks after optimizer step ``step``: the schedule at the last update."""
    update = last_update_step(step, config)
    return 0.0 if update is None else sparsity_at(update, config)


# --- which kernels ----------------------------------------------------------------------------
def _kernel(layer: Any) -> Any | None:
    """The stored kernel variable of a Conv2D / DepthwiseConv2D / Dense layer (a DepthwiseConv2D's
    depthwise kernel is its ``kernel`` in Keras 3); None for a quantized or LoRA layer, whose
    effective kernel is not the stored one."""
    if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
        return None
    if isinstance(layer, keras.layers.Dense):
        return getattr(layer, "_kernel", None)
    return getattr(layer, "kernel", None)


def prunable_kernels(
    model: Any, *, min_weights: int = MIN_WEIGHTS, skip_first_conv: bool = True
) -> list[tuple[str, Any]]:
    """``(layer path, kernel variable)`` of the kernels a config with these settings prunes, in
    the model's layer order, nested models (a backbone) walked into, each shared layer once."""
    kernels: list[tuple[str, Any]] = []
    first_conv = True
    for name, layer in leaf_layers(model):
        if not isinstance(layer, PRUNED_TYPES):
            continue
        is_conv = isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
        if is_conv and first_conv:
            first_conv = False
            if skip_first_conv:
                continue
        variable = _kernel(layer)
        if variable is None or not layer.trainable or not getattr(variable, "trainable", True):
            continue
        if int(np.prod(variable.shape)) < min_weights:
            continue
        kernels.append((name, variable))
    return kernels


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """A boolean mask (True: kept) zeroing the ``round(sparsity * n)`` smallest ``|w|``; ties at
    the threshold are pruned from the lowest flat index up, so the mask is deterministic."""
    flat = np.abs(np.asarray(weights, dtype=np.float64)).reshape(-1)
    prune = int(round(sparsity * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    if prune <= 0:
        return keep.reshape(np.shape(weights))
    if prune >= flat.size:
        return np.zeros(np.shape(weights), dtype=bool)
    threshold = np.partition(flat, prune - 1)[prune - 1]
    below = flat < threshold
    keep[below] = False
    ties = np.flatnonzero(flat == threshold)[: prune - int(below.sum())]
    keep[ties] = False
    return keep.reshape(np.shape(weights))


# --- the callback ---------------------------------------------------------------------------
class MagnitudePruning(keras.callbacks.Callback):
    """Prunes ``model``'s kernels on ``config``'s schedule while ``fit`` trains.

    ``model`` is the model whose layers are pruned: the one passed to ``fit`` or one sharing its
    layers (the export model); the optimizer (its ``iterations`` is the step) is the fitted
    model's. One callback may serve many ``fit`` calls (one per epoch); a new one after a
    restart recomputes the masks from the restored weights (see the module docstring), so
    either way the run is the same.
    """

    def __init__(self, model: Any, config: PruningConfig) -> None:
        super().__init__()
        self.pruned_model = model
        self.config = config
        self.kernels = prunable_kernels(model, min_weights=config.min_weights, skip_first_conv=config.skip_first_conv)
        if not self.kernels:
            raise SpecError(
                f"The model has no Conv2D, DepthwiseConv2D or Dense kernel of at least {config.min_weights} "
                "weights to prune."
            )
        self.masks: list[np.ndarray] | None = None  # True: kept; None: nothing pruned yet
        self._mask_variables: list[Any] = []  # the masks as variables of the kernels' dtype
        self._multiply = self._multiply_masks
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # One graph for all the multiplies: ~10x cheaper per batch than eager ops. The mask
            # variables are captured, so new masks do not retrace it.
            self._multiply = tf.function(self._multiply_masks)
        self.mask_step: int | None = None  # the update step the masks were computed at
        self.updates = 0  # mask computations so far (this process)

    # Keras hooks --------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        # After a restart (or new weights loaded between fits) the masks come from the weights.
        self._update(self._step(), force=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update(self._step())

    # --------------------------------------------------------------------------------------
    def apply(self) -> None:
        """Multiply the masks into the kernels (a no-op before pruning begins)."""
        if self.masks is not None:
            self._multiply()

    def _multiply_masks(self) -> None:
        for (_, variable), mask in zip(self.kernels, self._mask_variables):
            variable.assign(variable * mask)

    def compute_masks(self, sparsity: float) -> None:
        """New masks at ``sparsity`` from the current (already masked) weights, then applied."""
        self.apply()
        self.masks = [magnitude_mask(keras.ops.convert_to_numpy(v), sparsity) for _, v in self.kernels]
        if not self._mask_variables:
            self._mask_variables = [
                keras.Variable(mask.astype(variable.dtype), trainable=False, name="pruning_mask")
                for (_, variable), mask in zip(self.kernels, self.masks)
            ]
        else:
            for variable, mask in zip(self._mask_variables, self.masks):
                variable.assign(mask.astype(variable.dtype))
        self.updates += 1
        self.apply()

    def _update(self, step: int, *, force: bool = False) -> None:
        update = last_update_step(step, self.config)
        if not force and update == self.mask_step:
            self.apply()
            return
        sparsity = 0.0 if update is None else sparsity_at(update, self.config)
        if sparsity > 0:
            self.compute_masks(sparsity)
        else:
            self.masks = None
        self.mask_step = update

    def _optimizer(self) -> Any:
        for model in (self.model, self.pruned_model):
            optimizer = getattr(model, "optimizer", None) if model is not None else None
            if optimizer is not None:
                return optimizer
        raise ValueError("MagnitudePruning needs a compiled model: the optimizer's step drives the schedule.")

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self._optimizer().iterations))


# --- figures --------------------------------------------------------------------------------
def sparsity_report(model: Any, config: PruningConfig | None = None) -> dict[str, Any]:
    """The zeros actually in the kernels that ``config`` prunes (the default selection without
    one), measured from the weights: ``{"overall", "zeros", "weights", "target", "layers": [{"name",
    "weights", "zeros", "sparsity"}, ...]}``; ``target`` is ``config.sparsity`` (None without)."""
    min_weights = MIN_WEIGHTS if config is None else config.min_weights
    skip_first_conv = True if config is None else config.skip_first_conv
    layers = []
    total = zeros = 0
    for name, variable in prunable_kernels(model, min_weights=min_weights, skip_first_conv=skip_first_conv):
        values = keras.ops.convert_to_numpy(variable)
        count, zero = int(values.size), int(np.count_nonzero(values == 0))
        layers.append({"name": name, "weights": count, "zeros": zero, "sparsity": zero / count if count else 0.0})
        total += count
        zeros += zero
    return {
        "overall": zeros / total if total else 0.0,
        "zeros": zeros,
        "weights": total,
        "target": None if config is None else config.sparsity,
        "layers": layers,
    }


class _Counter:
    """A write-only file that counts the bytes written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def gzip_size(path: str | Path) -> int:
    """Bytes of ``path`` once gzip-compressed at level 9 (what a download or an app bundle's
    compression makes of it). A folder (a SavedModel) is tarred first, its files in sorted order
    with their times zeroed, so the figure depends on the contents only."""
    path = Path(path)
    counter = _Counter()
    with gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=9, mtime=0) as compressed:
        if path.is_dir():
            with tarfile.open(fileobj=compressed, mode="w|") as tar:
                for item in sorted(p for p in path.rglob("*") if p.is_file()):
                    info = tar.gettarinfo(str(item), arcname=str(item.relative_to(path)))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with item.open("rb") as handle:
                        tar.addfile(info, handle)
        else:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    compressed.write(chunk)
    return counter.size


def file_sizes(path: str | Path) -> dict[str, int]:
    """``{"bytes", "gzip_bytes"}`` of a file or folder: the raw and the compressed size side by side."""
    path = Path(path)
    raw = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return {"bytes": int(raw), "gzip_bytes": gzip_size(path)}
