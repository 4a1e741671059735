"""Online augmentation of train samples in a pool of worker processes.

The recipe (:func:`augment.online.online_augmenter`) is CPU-bound Python and numpy, so threads
would share one core through the GIL: a ``forkserver`` pool (``spawn`` where that is missing;
never a bare ``fork`` of a process that holds TensorFlow's threads) runs it, each worker with
OpenCV single-threaded. Workers import this module, :mod:`training.worker.data` (resize only),
:mod:`augment.online` and numpy: no TensorFlow, no Django.

A job is ``(sample or item, seed)``: a cached :class:`Sample` travels as its arrays, an uncached
:class:`RunItem` is read and resized by the worker. Boxes become annotations
``{"label": class name, "kind": "box", "geometry": {x, y, w, h}}`` (the augmenter's labels are
``spec.recipe_labels``, keyed by class name) and come back as boxes; an image the recipe resized
(a crop to another size) is stretched back to the input size with its boxes. Results come back
in order with a bounded number of chunks in flight.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec

from .data import load_sample, move_boxes, plan_resize, resize_image
from .schedule import SpecError
from .task_api import Sample

CHUNK = 8
RESULT_TIMEOUT_S = 600

_state: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    """Exit when the process that started this worker is gone (killed with SIGKILL, say): a pool
    worker would otherwise wait for work forever."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init(recipe: dict, recipe_labels: dict, labels: list[str], size: int, mode: str, seed: int) -> None:
    import cv2

    from augment.online import online_augmenter

    cv2.setNumThreads(1)
    _state.update(
        augment=online_augmenter(recipe, labels=recipe_labels, seed=seed),
        labels=labels,
        size=size,
        mode=mode,
    )
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def augment_arrays(
    augment: Any, image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, labels: list[str], size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One augmented draw of an input-size sample: ``(image, boxes, classes)`` at ``size``."""
    annotations = [
        {"label": labels[int(c)], "kind": "box", "geometry": {"x": float(b[0]), "y": float(b[1]), "w": float(b[2]), "h": float(b[3])}}
        for b, c in zip(boxes, classes)
    ]
    out, annotations = augment(image, annotations, seed=seed)
    index = {name: i for i, name in enumerate(labels)}
    new_boxes = np.asarray(
        [[a["geometry"][k] for k in ("x", "y", "w", "h")] for a in annotations if a.get("kind") == "box"], dtype=np.float32
    ).reshape(-1, 4)
    new_classes = np.asarray([index[a["label"]] for a in annotations if a.get("kind") == "box"], dtype=np.int32)
    if out.shape[:2] != (size, size):
        plan = plan_resize("stretch", out.shape[1], out.shape[0], size)
        out = resize_image(np.ascontiguousarray(out), plan)
        new_boxes, keep = move_boxes(new_boxes, plan)
        new_boxes, new_classes = new_boxes[keep], new_classes[keep]
    return np.ascontiguousarray(out, dtype=np.uint8), new_boxes, new_classes


def _run(chunk: list[tuple[Any, int]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for payload, seed in chunk:
        if isinstance(payload, RunItem):
            sample = load_sample(payload, _state["size"], _state["mode"])
            image, boxes, classes = sample.image, sample.boxes, sample.classes
        else:
            image, boxes, classes = payload
        out.append(augment_arrays(_state["augment"], image, boxes, classes, _state["labels"], _state["size"], seed))
    return out


def check_recipe(spec: RunSpec) -> None:
    """The recipe builds with the run's labels, or a :class:`SpecError` sentence."""
    from augment.online import online_augmenter

    try:
        online_augmenter(spec.recipe or {"transforms": []}, labels=dict(spec.recipe_labels or {}), seed=0)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)  # a RecipeError: each message already names its field
        raise SpecError(f"The augmentation recipe cannot be used: {'; '.join(errors.values()) if errors else exc}")


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class AugmentPool:
    """The run's augmentation workers (started once, used every epoch)."""

    def __init__(self, spec: RunSpec, *, workers: int) -> None:
        check_recipe(spec)  # a worker whose initializer fails is restarted forever: fail here
        self.workers = max(1, int(workers))
        self._pool = _context().Pool(
            self.workers,
            initializer=_init,
            initargs=(spec.recipe, dict(spec.recipe_labels or {}), list(spec.labels), int(spec.input_size), spec.resize, int(spec.seed)),
        )

    def map(self, jobs: Iterable[tuple[Sample | RunItem, int]]) -> Iterator[Sample]:
        """Augmented samples, in the order of ``jobs``."""
        window = 3 * self.workers
        pending: collections.deque = collections.deque()
        source = iter(jobs)

        def submit() -> bool:
            chunk = list(itertools.islice(source, CHUNK))
            if not chunk:
                return False
            payloads = [(self._payload(job), seed) for job, seed in chunk]
            pending.append(([job for job, _ in chunk], self._pool.apply_async(_run, (payloads,))))
            return True

        for _ in range(window):
            if not submit():
                break
        while pending:
            jobs_chunk, result = pending.popleft()
            try:
                values = result.get(timeout=RESULT_TIMEOUT_S)
            except multiprocessing.TimeoutError:
                raise RuntimeError(f"An augmentation worker gave no result in {RESULT_TIMEOUT_S} s.")
            submit()
            for job, (image, boxes, classes) in zip(jobs_chunk, values):
                item = job.item if isinstance(job, Sample) else job
                yield Sample(
                    image=image,
                    item=item,
                    label=item.label,
                    boxes=boxes,
                    classes=classes,
                    scale=job.scale if isinstance(job, Sample) else (1.0, 1.0),
                    offset=job.offset if isinstance(job, Sample) else (0.0, 0.0),
                )

    @staticmethod
    def _payload(job: Sample | RunItem) -> Any:
        if isinstance(job, Sample):
            return (job.image, job.boxes, job.classes)
        return job

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
