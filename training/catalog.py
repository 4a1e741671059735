"""What the web side knows of the model zoo: architectures, the tasks each serves, their input
sizes and options. Plain data (no TensorFlow): the service validates a run against it before
anything is queued, and the admin form and the command offer its choices.

The Keras applications behind these names (``MobileNetV3Small``, ``MobileNetV3Large``,
``EfficientNetB0``, built by the training process) take square inputs of at least 32 pixels and
downsample by 32, so an input size is a multiple of 32 in 32..1024. EfficientNet-B0 is offered for
classification only: the detection, keypoint and segmentation heads are built on the MobileNetV3
feature maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .protocol import HEADLINE_METRIC, TASKS

INPUT_MIN, INPUT_MAX, INPUT_STEP = 32, 1024, 32
DEFAULT_INPUT_SIZE = 224
ALPHA_RANGE = (0.25, 1.5)


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    tasks: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)  # option name -> default

    def input_size_problem(self, size: int) -> str | None:
        """Why ``size`` cannot be this backbone's input, or None."""
        if not INPUT_MIN <= size <= INPUT_MAX or size % INPUT_STEP:
            return (
                f"{self.title} takes square inputs of {INPUT_MIN}..{INPUT_MAX} pixels in steps of {INPUT_STEP} "
                f"(the backbone downsamples by 32); {size} is not one."
            )
        return None


_MOBILENET_OPTIONS = {"alpha": 1.0, "minimalistic": False}

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("mobilenet_v3_small", "MobileNetV3 Small", TASKS, _MOBILENET_OPTIONS),
        Architecture("mobilenet_v3_large", "MobileNetV3 Large", TASKS, _MOBILENET_OPTIONS),
        Architecture("efficientnet_b0", "EfficientNet-B0", ("classify",)),
    )
}

# Options every architecture takes, with their defaults: batch-norm momentum ("auto": the
# training process picks one from the dataset size) and per-class loss weights against imbalance.
COMMON_OPTIONS: dict[str, Any] = {"bn_momentum": "auto", "class_weights": False}

# Options the training process also reads, left out unless given (its defaults apply):
# name -> (kind, low, high) for numbers, or the allowed words.
ADVANCED_OPTIONS: dict[str, tuple] = {
    "optimizer": ("choice", "adam", "adamw"),
    "weight_decay": ("number", 0.0, 1.0),  # AdamW only
    "clipnorm": ("number", 0.0, 1000.0),  # gradient norm clipping (> 0)
    "dropout": ("number", 0.0, 0.95),  # before the classification head
    "min_lr_ratio": ("number", 0.0, 1.0),  # where the cosine ends, as a share of the rate
    "ema": ("number", 0.0, 0.9999),  # decay of the weight average that is validated and exported (0: none)
}

# Options of one task only: name -> (task, kind, *rule). ``keypoint_label``: the keypoint class a
# pose run trains (by default the version's only one in use); ``segment_output``: the segmentation
# file's output, a uint8 ``class_map`` (argmax in the graph) or per-class ``scores``;
# ``keypoint_refine`` (default true): regressed keypoints move to the highest nearby cell of their heatmap.
TASK_OPTIONS: dict[str, tuple] = {
    "keypoint_label": ("keypoints", "text"),
    "keypoint_refine": ("keypoints", "bool"),
    "segment_output": ("segment", "choice", "class_map", "scores"),
}

# Magnitude pruning (any task): {"sparsity": target in (0, 0.99], "begin": 0.0, "end": 0.8 (shares
# of the run's steps where the polynomial schedule starts and reaches the target), "frequency":
# steps between mask updates}.
PRUNING_KEYS = {"sparsity": (0.0, 0.99), "begin": (0.0, 1.0), "end": (0.0, 1.0), "frequency": (1, 100000)}
PRUNING_DEFAULTS = {"begin": 0.0, "end": 0.8}

SCHEDULES = ("cosine", "constant")


def architectures_for(task: str) -> list[str]:
    return [name for name, a in ARCHITECTURES.items() if task in a.tasks]


def headline_metric(task: str) -> str:
    return HEADLINE_METRIC.get(task, "accuracy")


__all__ = ["PRUNING_DEFAULTS", "PRUNING_KEYS", "TASK_OPTIONS", "ADVANCED_OPTIONS", "ARCHITECTURES", "COMMON_OPTIONS", "SCHEDULES", "TASKS", "Architecture", "architectures_for", "headline_metric"]
