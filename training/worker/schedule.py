"""The numbers of a run that do not need TensorFlow: steps, the learning-rate curve, BN momentum.

Plain Python so that the run loop can validate a spec, and tests can check the figures, before
TensorFlow is imported. :mod:`training.worker.optim` turns them into Keras objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("cosine", "constant")

# BatchNormalization momentum bounds for "auto": 0.9 keeps the moving statistics responsive on
# short runs; 0.99 is plenty for long ones (Keras's MobileNetV3 default, 0.999, needs thousands of
# steps to forget its initial statistics: trained from scratch for ~600 steps it scored 1.00 on
# train and 0.107 on test in inference mode, 0.989 with 0.9).
BN_MOMENTUM_MIN = 0.9
BN_MOMENTUM_MAX = 0.99
# The moving average's time constant, 1 / (1 - m) steps, should be at most this fraction of the run.
BN_TIME_CONSTANT_FRACTION = 0.1


class SpecError(ValueError):
    """A spec (or its data) that cannot be trained; the message is one sentence for the user."""


@dataclass(frozen=True)
class Steps:
    """How a run's steps are laid out."""

    train_images: int
    batch_size: int  # effective: never more than the train images
    steps_per_epoch: int
    epochs: int
    warmup_steps: int

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


def plan_steps(*, train_images: int, batch_size: int, epochs: int, warmup_epochs: int) -> Steps:
    """Batches per epoch (the last partial batch is dropped, so BatchNormalization never sees a
    batch of one or two images) and the warm-up, at most half of the run."""
    if train_images < 1:
        raise SpecError("The version has no train images.")
    if batch_size < 1 or epochs < 1:
        raise SpecError("batch_size and epochs must be at least 1.")
    batch = min(batch_size, train_images)
    steps = max(1, train_images // batch)
    total = steps * epochs
    warmup = min(max(0, int(warmup_epochs)) * steps, total // 2)
    return Steps(train_images, batch, steps, epochs, warmup)


def learning_rate_at(
    step: int | float, *, base_lr: float, total_steps: int, warmup_steps: int, schedule: str = "cosine",
    min_ratio: float = 0.0,
) -> float:
    """The learning rate of optimizer step ``step`` (0-based: the first update uses step 0).

    ``cosine``: linear warm-up from ``base_lr / warmup_steps`` to ``base_lr`` over ``warmup_steps``
    steps, then a half cosine from ``base_lr`` down to ``min_ratio * base_lr`` at ``total_steps``
    (and flat after it, should a resumed run take a step more). ``constant``: ``base_lr``.
    """
    if schedule == "constant":
        return float(base_lr)
    if schedule != "cosine":
        raise SpecError(f"Unknown learning-rate schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}.")
    if warmup_steps > 0 and step < warmup_steps:
        return float(base_lr) * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(max((step - warmup_steps) / decay_steps, 0.0), 1.0)
    floor = float(base_lr) * min_ratio
    return floor + (float(base_lr) - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def auto_bn_momentum(total_steps: int) -> float:
    """Momentum whose moving-average time constant ``1 / (1 - m)`` is at most a tenth of the run:
    ``clip(1 - 10 / total_steps, 0.9, 0.99)``."""
    ideal = 1.0 - 1.0 / (BN_TIME_CONSTANT_FRACTION * max(1, total_steps))
    return round(min(max(ideal, BN_MOMENTUM_MIN), BN_MOMENTUM_MAX), 6)


def bn_momentum(option: object, total_steps: int) -> float:
    """``options.bn_momentum``: ``"auto"`` (or absent) -> :func:`auto_bn_momentum`; a number in (0, 1)."""
    if option is None or option == "auto":
        return auto_bn_momentum(total_steps)
    try:
        value = float(option)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"options.bn_momentum must be \"auto\" or a number between 0 and 1, got {option!r}.")
    if not 0.0 < value < 1.0:
        raise SpecError(f"options.bn_momentum must be between 0 and 1 (exclusive), got {value}.")
    return value
