"""What a training task (classify, detect, and later keypoints, segment) provides to the run loop.

The loop (:mod:`training.worker.run`) is the same for every task: it reads the version's images,
resizes them to the input size as the version says (stretch or letterbox, geometry moved with
them), applies the online augmentation recipe to train images, asks the task for targets, trains,
checkpoints, evaluates and exports. A task adds only what is its own: its models, its targets and
loss, the decoding of its outputs and its metric. Adding a task is adding a module and one entry
in :data:`training.worker.tasks.TASKS`, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from training.protocol import RunItem, RunSpec


@dataclass
class Sample:
    """One image at the model's input size, with its geometry in input pixels.

    ``image``: uint8 ``(S, S, 3)`` RGB; ``label``: class index (classification);
    ``boxes``: float32 ``(N, 4)`` ``x, y, w, h`` in input pixels; ``classes``: int32 ``(N,)``;
    ``keypoints``: float32 ``(N, K, 3)`` aligned with ``boxes``, ``x, y`` in input pixels and the
    COCO visibility (a point unlabeled or outside the picture is ``[0, 0, 0]``), ``(N, 0, 3)``
    when the run has none; ``mask``: uint8 ``(S, S)`` class map (index into ``spec.labels``,
    :data:`IGNORE` outside the picture, e.g. letterbox bars) when the run has segments, else None.
    ``item`` is the version image it came from (original size in ``item.width/height``);
    ``scale``/``offset`` map input pixels back to it: ``original = (input - offset) / scale``.
    """

    image: np.ndarray
    item: RunItem
    label: int | None
    boxes: np.ndarray
    classes: np.ndarray
    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), dtype=np.float32))
    mask: np.ndarray | None = None


# A class map's "no label here" value (letterbox bars, pixels outside the picture): ignored by
# losses and metrics.
IGNORE = 255


# ``predict(images)``: a float32 batch ``(B, S, S, 3)`` of 0..255 RGB -> the export model's named
# outputs as numpy arrays. The same callable shape serves the Keras model and every exported file
# (``export.model_formats.run_file``), so a file's metric is computed by exactly the same code.
Predict = Callable[[np.ndarray], dict[str, np.ndarray]]


class TrainingTask(Protocol):
    name: str  # "classify", "detect", ...
    headline: str  # the metric key best epochs are chosen by (on val) and tables lead with

    def check(self, spec: RunSpec) -> str | None:
        """Why this spec cannot be trained (architecture, input size, data), or None."""
        ...

    def build(self, spec: RunSpec) -> tuple[Any, Any]:
        """``(train_model, export_model)`` (Keras 3). The export model takes float32 0..255 RGB of
        ``(None, S, S, 3)`` (rescaling inside) and returns a dict of named outputs with final results
        (class scores; or boxes normalised 0..1, classes, scores and a count) using TFLite builtin ops
        only. It may share layers (weights) with the train model."""
        ...

    def targets(self, sample: Sample) -> dict[str, np.ndarray]:
        """The train model's targets for one sample (keys = its output names)."""
        ...

    def compile(self, model: Any, optimizer: Any) -> None:
        """Losses and metrics on the train model."""
        ...

    def class_weights(self, items: Sequence[RunItem], num_classes: int) -> dict[int, float] | None:
        """Optional per-class weights against imbalance (None: unweighted)."""
        ...

    def evaluate(self, predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
        """The task's metrics of ``predict`` on ``samples`` (the headline among them)."""
        ...

    def plots(self, metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
        """Task figures for the run page (PNG, matplotlib Agg), e.g. a confusion matrix or a PR curve."""
        ...

    def draw(self, sample: Sample, outputs: dict[str, np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """``sample.image`` with the prediction of one image (``outputs`` without the batch axis)
        drawn on it, for the run page's sample predictions."""
        ...

    def output_layout(self, spec: RunSpec) -> dict[str, Any]:
        """The export model's outputs for the model card: names, shapes, dtypes, meaning."""
        ...
