"""Online augmentation of train samples in a pool of worker processes.

The recipe (:func:`augment.online.online_augmenter`) is CPU-bound Python and numpy, so threads
would share one core through the GIL: a ``forkserver`` pool (``spawn`` where that is missing;
never a bare ``fork`` of a process that holds TensorFlow's threads) runs it, each worker with
OpenCV single-threaded. Workers import this module, :mod:`training.worker.data` (resize only),
:mod:`augment.online` and numpy: no TensorFlow, no Django.

A job is ``(sample or item, seed)``: a cached :class:`Sample` travels as its arrays, an uncached
:class:`RunItem` is read and resized by the worker. Boxes become annotations
``{"label": class name, "kind": "box", "geometry": {x, y, w, h}}`` (the augmenter's labels are
``spec.recipe_labels``, keyed by class name), each in a group of its own with its keypoints
(``kind: keypoints``: the augmenter swaps left/right points on a mirror, by the recipe's
``flip_pairs``), and a class map becomes one mask per class present; they come back as boxes,
aligned keypoints and a class map. An image the recipe resized (a crop to another size) is
stretched back to the input size with its geometry. Results come back
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
from typing import Any, NamedTuple

import numpy as np
from PIL import Image as PILImage

from annotate.geometry import mask_to_rle, rle_to_mask
from training.protocol import RunItem, RunSpec

from .data import load_sample, move_boxes, move_keypoints, plan_resize, resize_image
from .schedule import SpecError
from .task_api import IGNORE, Sample

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


class Parts(NamedTuple):
    """What augmentation moves of a sample, at the input size (see :class:`Sample`)."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    keypoints: np.ndarray
    mask: np.ndarray | None


MASK_IGNORE_LABEL = "\x00ignore"  # the class map's IGNORE region travels as a mask of this label


def _annotations(parts: Parts, labels: list[str]) -> list[dict]:
    """Boxes (each its own group, with its keypoints in that group) and the class map as one
    mask per class present (and one for the IGNORE region)."""
    annotations: list[dict] = []
    for i, (b, c) in enumerate(zip(parts.boxes, parts.classes)):
        label = labels[int(c)]
        annotations.append({"label": label, "kind": "box", "group": i + 1,
                            "geometry": {"x": float(b[0]), "y": float(b[1]), "w": float(b[2]), "h": float(b[3])}})
        if parts.keypoints.shape[1]:
            points = [[float(x), float(y), int(v)] for x, y, v in parts.keypoints[i]]
            annotations.append({"label": label, "kind": "keypoints", "group": i + 1, "geometry": {"points": points}})
    if parts.mask is not None:
        for value in np.unique(parts.mask):
            if value == 0:
                continue  # background: whatever is not painted
            label = MASK_IGNORE_LABEL if value == IGNORE else labels[int(value)]
            annotations.append({"label": label, "kind": "mask", "value": int(value),
                                "geometry": mask_to_rle(parts.mask == value)})
    return annotations


def _parts(image: np.ndarray, annotations: list[dict], labels: list[str], points_per_box: int) -> Parts:
    index = {name: i for i, name in enumerate(labels)}
    boxes = [a for a in annotations if a.get("kind") == "box"]
    points = {a["group"]: a["geometry"]["points"] for a in annotations if a.get("kind") == "keypoints"}
    keypoints = np.zeros((len(boxes), points_per_box, 3), dtype=np.float32)
    for row, box in enumerate(boxes):
        if points_per_box and box["group"] in points:
            keypoints[row] = np.asarray(points[box["group"]], dtype=np.float32).reshape(points_per_box, 3)
    mask = None
    if any(a.get("kind") == "mask" for a in annotations):
        mask = np.zeros(image.shape[:2], dtype=np.uint8)
        for a in annotations:
            if a.get("kind") == "mask":
                mask[rle_to_mask(a["geometry"]) > 0] = a["value"]
    return Parts(
        image,
        np.asarray([[a["geometry"][k] for k in ("x", "y", "w", "h")] for a in boxes], dtype=np.float32).reshape(-1, 4),
        np.asarray([index[a["label"]] for a in boxes], dtype=np.int32),
        keypoints,
        mask,
    )


def augment_arrays(augment: Any, parts: Parts, labels: list[str], size: int, seed: int) -> Parts:
    """One augmented draw of an input-size sample's parts, at ``size``: boxes, keypoints (the
    recipe's ``flip_pairs`` swap left and right points on a mirror) and the class map travel
    with the image as the recipe moves them."""
    out, annotations = augment(parts.image, _annotations(parts, labels), seed=seed)
    new = _parts(out, annotations, labels, parts.keypoints.shape[1])
    if parts.mask is not None and new.mask is None:
        new = new._replace(mask=np.zeros(out.shape[:2], dtype=np.uint8))
    if out.shape[:2] != (size, size):
        plan = plan_resize("stretch", out.shape[1], out.shape[0], size)
        boxes, keep = move_boxes(new.boxes, plan)
        mask = new.mask
        if mask is not None:
            mask = np.asarray(PILImage.fromarray(mask).resize((size, size), PILImage.Resampling.NEAREST))
        new = Parts(
            resize_image(np.ascontiguousarray(out), plan),
            boxes[keep],
            new.classes[keep],
            move_keypoints(new.keypoints, plan)[keep],
            mask,
        )
    return new._replace(image=np.ascontiguousarray(new.image, dtype=np.uint8))


def _run(chunk: list[tuple[Any, int]]) -> list[Parts]:
    out = []
    for payload, seed in chunk:
        if isinstance(payload, RunItem):
            sample = load_sample(payload, _state["size"], _state["mode"])
            payload = Parts(sample.image, sample.boxes, sample.classes, sample.keypoints, sample.mask)
        out.append(augment_arrays(_state["augment"], payload, _state["labels"], _state["size"], seed))
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
            for job, parts in zip(jobs_chunk, values):
                item = job.item if isinstance(job, Sample) else job
                yield Sample(
                    image=parts.image,
                    item=item,
                    label=item.label,
                    boxes=parts.boxes,
                    classes=parts.classes,
                    scale=job.scale if isinstance(job, Sample) else (1.0, 1.0),
                    offset=job.offset if isinstance(job, Sample) else (0.0, 0.0),
                    keypoints=parts.keypoints,
                    mask=parts.mask,
                )

    @staticmethod
    def _payload(job: Sample | RunItem) -> Any:
        if isinstance(job, Sample):
            return Parts(job.image, job.boxes, job.classes, job.keypoints, job.mask)
        return job

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()
