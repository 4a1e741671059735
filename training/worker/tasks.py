"""The task registry: ``spec.task`` -> a :class:`~training.worker.task_api.TrainingTask`.

Adding a task is a module and one entry here. Entries are loaded lazily (a task's module is only
imported when a run asks for it). ``detect`` lives in :mod:`training.worker.detect`, which must
define ``DetectTask`` (a class built without arguments) or ``TASK`` (an instance). Optional task
attribute used by the loop: ``float_outputs`` (names, or a method ``float_outputs(spec)``) — the
outputs that must stay float32 in the int8 file (a detector's decoded boxes and scores);
``float_layers`` (Keras layer names) — layers whose ops stay float32 inside the int8 file (the pose
model's decode); ``coreml``
(True on a classifier) — also export a Core ML classifier with the run's labels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .schedule import SpecError


def _classify() -> Any:
    from .classify import ClassifyTask

    return ClassifyTask()


def _from_module(module: str, class_name: str, what: str) -> Callable[[], Any]:
    def load() -> Any:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but something it imports is missing
                raise
            raise SpecError(f"{what} is not available in this installation (no module {module}).")
        if hasattr(loaded, "TASK"):
            return loaded.TASK
        if hasattr(loaded, class_name):
            return getattr(loaded, class_name)()
        raise SpecError(f"{what} is not available: {module} defines neither {class_name} nor TASK.")

    return load


TASKS: dict[str, Callable[[], Any]] = {
    "classify": _classify,
    "detect": _from_module("training.worker.detect", "DetectTask", "Object detection"),
    "keypoints": _from_module("training.worker.keypoints", "KeypointsTask", "Keypoint (pose) training"),
    "segment": _from_module("training.worker.segment", "SegmentTask", "Semantic segmentation"),
}


def get_task(name: str) -> Any:
    """The task instance for ``spec.task``; a :class:`SpecError` sentence when there is none."""
    factory = TASKS.get(name)
    if factory is None:
        raise SpecError(f"Unknown task {name!r}; this worker trains {', '.join(sorted(TASKS))}.")
    return factory()


def float_outputs(task: Any, spec: Any) -> tuple[str, ...]:
    value = getattr(task, "float_outputs", ())
    if callable(value):
        value = value(spec)
    return tuple(value or ())


def float_layers(task: Any) -> tuple[str, ...]:
    return tuple(getattr(task, "float_layers", ()) or ())
