"""What the web side knows of the model zoo: architectures, the tasks each serves, their input
sizes and options. Plain data (no TensorFlow): the service validates a run against it before
anything is queued, and the admin form and the command offer its choices.

The Keras applications behind these names (``MobileNetV3Small``, ``MobileNetV3Large``,
``EfficientNetB0``, built by the training process) take square inputs of at least 32 pixels and
downsample by 32, so an input size is a multiple of 32 in 32..1024. EfficientNet-B0 is offered for
classification only: the detector head is built on the MobileNetV3 feature maps.
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
        Architecture("mobilenet_v3_small", "MobileNetV3 Small", ("classify", "detect"), _MOBILENET_OPTIONS),
        Architecture("mobilenet_v3_large", "MobileNetV3 Large", ("classify", "detect"), _MOBILENET_OPTIONS),
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
}

SCHEDULES = ("cosine", "constant")


def architectures_for(task: str) -> list[str]:
    return [name for name, a in ARCHITECTURES.items() if task in a.tasks]


def headline_metric(task: str) -> str:
    return HEADLINE_METRIC.get(task, "accuracy")


__all__ = ["ADVANCED_OPTIONS", "ARCHITECTURES", "COMMON_OPTIONS", "SCHEDULES", "TASKS", "Architecture", "architectures_for", "headline_metric"]
