"""The run's images at the model's input size, and the ``tf.data`` pipelines that feed them.

* **Resize** (:func:`plan_resize`, :func:`resize_image`, :func:`load_sample`): the same mapping as
  a dataset version's preprocessing (``datasets.build.Resize``): ``stretch`` scales each axis to
  the input size; ``letterbox`` scales uniformly to fit, rounds the picture's size to whole pixels,
  and centres it on a grey (114) canvas, with the exact scale of the rounded picture so that its
  edges land on pixel edges. Boxes move with the image (``x' = x * sx + dx``), clipped to the
  picture; :class:`~training.worker.task_api.Sample` records ``scale`` / ``offset`` to map back.
* **Cache**: decoded, resized images stay in memory when ``S * S * 3 * N`` bytes fit under
  ``options.cache_bytes`` (2 GB by default), split by split (val and test first: they are read
  every epoch); a split that does not fit is decoded again each time it is read.
* **Train pipeline** (:meth:`RunData.train_dataset`): one epoch in an order drawn from
  ``(seed, epoch)`` (so a resumed run sees the same order an uninterrupted one would); cached
  samples without a recipe have fixed targets, so they become tensors once and each batch is a
  ``tf.gather`` of its indices (val's loss batches too); with an
  augmentation recipe, samples are augmented in a process pool (:mod:`training.worker.augmentation`,
  the recipe is CPU-bound Python) and reach ``tf.data`` through ``from_generator``; without one,
  uncached samples are decoded by ``tf.numpy_function`` in a ``map`` with
  ``num_parallel_calls=AUTOTUNE``. Then batch (the last partial batch dropped) and prefetch.

TensorFlow is imported inside the pipeline functions only: the resize code is used by the
augmentation worker processes and by tests, which must not pay for it.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image as PILImage

from training.protocol import RunItem, RunSpec

from .schedule import SpecError
from .task_api import IGNORE, Sample

LETTERBOX_FILL = (114, 114, 114)  # as datasets.build.LETTERBOX_FILL: the version's bars
RESIZE_MODES = ("stretch", "letterbox")
DEFAULT_CACHE_BYTES = 2 * 1024**3
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ResizePlan:
    """Source pixels -> input pixels: ``x' = x * sx + dx``, ``y' = y * sy + dy``."""

    size: int
    sx: float
    sy: float
    dx: float
    dy: float
    inner_width: int  # the picture's own size inside the input (without letterbox bars)
    inner_height: int


def plan_resize(mode: str, width: int, height: int, size: int) -> ResizePlan:
    """How an image of ``width x height`` reaches ``size x size`` (see the module doc)."""
    if width < 1 or height < 1:
        raise SpecError(f"An image of {width}x{height} pixels cannot be resized.")
    if mode == "stretch":
        return ResizePlan(size, size / width, size / height, 0.0, 0.0, size, size)
    if mode != "letterbox":
        raise SpecError(f"Unknown resize mode {mode!r}; choose one of {', '.join(RESIZE_MODES)}.")
    scale = min(size / width, size / height)
    inner_w, inner_h = max(1, round(width * scale)), max(1, round(height * scale))
    dx, dy = (size - inner_w) // 2, (size - inner_h) // 2
    return ResizePlan(size, inner_w / width, inner_h / height, float(dx), float(dy), inner_w, inner_h)


def resize_image(image: np.ndarray, plan: ResizePlan) -> np.ndarray:
    """``image`` (H x W x 3 uint8 RGB) at the input size, as the plan says (PIL bilinear)."""
    picture = PILImage.fromarray(image)
    if picture.size != (plan.inner_width, plan.inner_height):
        picture = picture.resize((plan.inner_width, plan.inner_height), PILImage.Resampling.BILINEAR)
    if (plan.inner_width, plan.inner_height) == (plan.size, plan.size):
        return np.asarray(picture, dtype=np.uint8)
    canvas = PILImage.new("RGB", (plan.size, plan.size), LETTERBOX_FILL)
    canvas.paste(picture, (int(plan.dx), int(plan.dy)))
    return np.asarray(canvas, dtype=np.uint8)


def move_boxes(boxes: np.ndarray, plan: ResizePlan) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 4)`` x, y, w, h boxes moved by the plan and clipped to the picture (the frame less
    any letterbox bars); also the mask of the boxes kept (some width and height left)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    left, top = plan.dx, plan.dy
    right, bottom = plan.dx + plan.inner_width, plan.dy + plan.inner_height
    x0 = np.clip(boxes[:, 0] * plan.sx + plan.dx, left, right)
    y0 = np.clip(boxes[:, 1] * plan.sy + plan.dy, top, bottom)
    x1 = np.clip((boxes[:, 0] + boxes[:, 2]) * plan.sx + plan.dx, left, right)
    y1 = np.clip((boxes[:, 1] + boxes[:, 3]) * plan.sy + plan.dy, top, bottom)
    moved = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
    keep = (moved[:, 2] > 0) & (moved[:, 3] > 0)
    return moved.astype(np.float32), keep


def read_rgb(path: str) -> np.ndarray:
    """A stored image file as H x W x 3 uint8 RGB (stored files are already upright)."""
    try:
        with PILImage.open(path) as picture:
            picture.load()
            return np.asarray(picture.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise SpecError(f"The image file {path} is missing.")
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise SpecError(f"The image file {path} cannot be read ({exc}).")


def _check_header(item: RunItem) -> None:
    try:
        with PILImage.open(item.path) as picture:
            picture.size  # noqa: B018 - opening parses the header
    except FileNotFoundError:
        raise SpecError(f"The image file {item.path} is missing.")
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise SpecError(f"The image file {item.path} cannot be read ({exc}).")


def item_boxes(item: RunItem) -> tuple[np.ndarray, np.ndarray]:
    """The item's boxes as float32 ``(N, 4)`` and their classes as int32 ``(N,)``."""
    rows = [list(map(float, box)) for box in item.boxes or []]
    if any(len(row) != 5 for row in rows):
        raise SpecError(f"The boxes of {item.path} must be [x, y, w, h, class index].")
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return array[:, :4].astype(np.float32), array[:, 4].astype(np.int32)


def item_keypoints(item: RunItem, count: int) -> np.ndarray:
    """The item's keypoints as float32 ``(count, K, 3)`` (aligned with its ``count`` boxes)."""
    rows = item.keypoints or []
    if not rows:
        return np.zeros((count, 0, 3), dtype=np.float32)
    if len(rows) != count or len({len(row) for row in rows}) != 1 or len(rows[0]) % 3:
        raise SpecError(f"The keypoints of {item.path} must be one [x, y, v] * K row per box.")
    return np.asarray(rows, dtype=np.float32).reshape(count, -1, 3)


def move_keypoints(points: np.ndarray, plan: ResizePlan) -> np.ndarray:
    """``(N, K, 3)`` keypoints moved by the plan; a point outside the picture (or unlabeled)
    becomes ``[0, 0, 0]``."""
    points = np.array(points, dtype=np.float32)  # (N, K, 3), a copy
    x = points[..., 0] * plan.sx + plan.dx
    y = points[..., 1] * plan.sy + plan.dy
    inside = (
        (points[..., 2] > 0)
        & (x >= plan.dx) & (x <= plan.dx + plan.inner_width)
        & (y >= plan.dy) & (y <= plan.dy + plan.inner_height)
    )
    points[..., 0], points[..., 1] = x, y
    points[~inside] = 0.0
    return points


def _segment_mask(kind: str, geometry: dict, plan: ResizePlan, width: int, height: int) -> np.ndarray:
    """One mask or polygon as a 0/1 array of the picture's size (``inner_width x inner_height``):
    a polygon is rasterised there directly (its points moved by the plan), an RLE mask is decoded
    at the stored size and resized (nearest)."""
    from pycocotools import mask as mask_utils

    inner_w, inner_h = plan.inner_width, plan.inner_height
    if kind == "polygon":
        parts = []
        for part in geometry.get("polygons") or []:
            pts = np.asarray(part, dtype=np.float64).reshape(-1, 2)
            pts = np.stack([pts[:, 0] * plan.sx, pts[:, 1] * plan.sy], axis=1)
            if len(pts) >= 3:
                parts.append(pts.reshape(-1).tolist())
        if not parts:
            return np.zeros((inner_h, inner_w), dtype=np.uint8)
        rle = mask_utils.merge(mask_utils.frPyObjects(parts, inner_h, inner_w))
        return mask_utils.decode(rle)
    if kind == "mask":
        rle = geometry["rle"]
        if list(rle["size"]) != [height, width]:
            raise SpecError(f"A mask of size {rle['size']} does not fit its {width}x{height} image.")
        counts = rle["counts"]
        decoded = mask_utils.decode({"size": rle["size"], "counts": counts.encode("ascii") if isinstance(counts, str) else counts})
        if decoded.shape == (inner_h, inner_w):
            return decoded
        return np.asarray(PILImage.fromarray(decoded).resize((inner_w, inner_h), PILImage.Resampling.NEAREST))
    raise SpecError(f"Unknown segment kind {kind!r}: a segment is a mask or a polygon.")


def class_map(item: RunItem, plan: ResizePlan, width: int, height: int) -> np.ndarray:
    """The item's segments painted in order on an ``S x S`` uint8 map: class index inside the
    picture (0 where nothing is painted: the first label, "background"), :data:`IGNORE` on the
    letterbox bars."""
    picture = np.zeros((plan.inner_height, plan.inner_width), dtype=np.uint8)
    for segment in item.segments or []:
        if len(segment) != 3:
            raise SpecError(f"The segments of {item.path} must be [class index, kind, geometry].")
        index, kind, geometry = segment
        picture[_segment_mask(kind, geometry, plan, width, height) > 0] = int(index)
    if (plan.inner_width, plan.inner_height) == (plan.size, plan.size):
        return picture
    canvas = np.full((plan.size, plan.size), IGNORE, dtype=np.uint8)
    x, y = int(plan.dx), int(plan.dy)
    canvas[y : y + plan.inner_height, x : x + plan.inner_width] = picture
    return canvas


def to_sample(image: np.ndarray, item: RunItem, size: int, mode: str) -> Sample:
    """A decoded image of ``item`` at the input size, its boxes, keypoints and class map moved with it."""
    height, width = image.shape[:2]
    plan = plan_resize(mode, width, height, size)
    boxes, classes = item_boxes(item)
    moved, keep = move_boxes(boxes, plan)
    points = move_keypoints(item_keypoints(item, len(boxes)), plan)
    return Sample(
        image=resize_image(image, plan),
        item=item,
        label=item.label,
        boxes=moved[keep].reshape(-1, 4),
        classes=classes[keep].astype(np.int32),
        scale=(plan.sx, plan.sy),
        offset=(plan.dx, plan.dy),
        keypoints=points[keep],
        mask=class_map(item, plan, width, height) if item.segments is not None else None,
    )


def load_sample(item: RunItem, size: int, mode: str) -> Sample:
    return to_sample(read_rgb(item.path), item, size, mode)


def bounded_map(function: Callable[[Any], Any], values: Iterable[Any], *, executor: Any, window: int) -> Iterator[Any]:
    """``map`` on an executor, in order, with at most ``window`` calls in flight (memory stays
    bounded however slowly the consumer reads)."""
    pending: collections.deque = collections.deque()
    iterator = iter(values)
    for value in itertools.islice(iterator, window):
        pending.append(executor.submit(function, value))
    while pending:
        result = pending.popleft().result()
        for value in itertools.islice(iterator, 1):
            pending.append(executor.submit(function, value))
        yield result


def epoch_order(seed: int, epoch: int, count: int) -> np.ndarray:
    """The train images' order in ``epoch`` (1-based): the same on every resume."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)]).permutation(count)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of train image ``index`` in ``epoch``: independent of the number of
    workers and of how the work is scheduled."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index)]).generate_state(1)[0])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RunData:
    """The run's splits, cached where they fit, and the pipelines over them."""

    def __init__(
        self,
        spec: RunSpec,
        task: Any,
        *,
        progress: Callable[[float, str], None] | None = None,
    ) -> None:
        if spec.resize not in RESIZE_MODES:
            raise SpecError(f"Unknown resize mode {spec.resize!r}; choose one of {', '.join(RESIZE_MODES)}.")
        self.spec = spec
        self.task = task
        self.size = int(spec.input_size)
        self.threads = max(1, int(spec.threads))
        self.items: dict[str, list[RunItem]] = {split: [i for i in spec.items if i.split == split] for split in SPLITS}
        options = spec.options or {}
        self.cache_bytes = int(options.get("cache_bytes", DEFAULT_CACHE_BYTES))
        self.class_weights: dict[int, float] | None = None
        self._cache: dict[str, list[Sample]] = {}
        self._augmenter: Any = None
        self._target_spec: dict[str, tuple[tuple[int, ...], Any]] | None = None
        self._tensor_cache: dict[str, Any] = {}
        self.pipeline_error: BaseException | None = None
        budget = self.cache_bytes
        per_image = self.size * self.size * 3
        total = sum(len(items) for items in self.items.values())
        done = 0
        for split in ("val", "test", "train"):
            need = per_image * len(self.items[split])
            if need <= budget:
                budget -= need
                self._cache[split] = self._load_all(self.items[split], progress, done, total)
            else:
                log(f"{split}: {len(self.items[split])} images at {self.size}px need {need / 1e6:.0f} MB, "
                    f"over the {budget / 1e6:.0f} MB left in the cache (options.cache_bytes): decoded again on every read.")
                self._check_readable(self.items[split])
            done += len(self.items[split])

    # --- samples ---------------------------------------------------------------------------
    def _load_all(self, items: Sequence[RunItem], progress, done: int, total: int) -> list[Sample]:
        with concurrent.futures.ThreadPoolExecutor(self.threads) as executor:
            samples = []
            for i, sample in enumerate(
                bounded_map(self._load, items, executor=executor, window=4 * self.threads)
            ):
                samples.append(sample)
                if progress and (i + 1) % 50 == 0:
                    progress((done + i + 1) / max(total, 1), f"Reading images {done + i + 1}/{total}")
        return samples

    def _check_readable(self, items: Sequence[RunItem]) -> None:
        """Every file of an uncached split opens as an image (its header only: cheap), so a
        broken file stops the run now with its name, not in the middle of an epoch."""
        with concurrent.futures.ThreadPoolExecutor(self.threads) as executor:
            for _ in bounded_map(_check_header, items, executor=executor, window=8 * self.threads):
                pass

    def _load(self, item: RunItem) -> Sample:
        return load_sample(item, self.size, self.spec.resize)

    def count(self, split: str) -> int:
        return len(self.items[split])

    def cached(self, split: str) -> bool:
        return split in self._cache

    def samples(self, split: str, limit: int | None = None) -> Iterator[Sample]:
        """The split's samples in their stored order (un-augmented), at most ``limit``."""
        items = self.items[split][:limit] if limit is not None else self.items[split]
        if split in self._cache:
            yield from self._cache[split][: len(items)]
            return
        with concurrent.futures.ThreadPoolExecutor(self.threads) as executor:
            yield from bounded_map(self._load, items, executor=executor, window=4 * self.threads)

    def spread(self, split: str, count: int) -> list[Sample]:
        """``count`` samples evenly spread over the split (versions list images grouped by class
        or by upload, so the first ones would all look alike)."""
        total = self.count(split)
        if total == 0 or count < 1:
            return []
        picks = set(np.linspace(0, total - 1, num=min(count, total)).round().astype(int).tolist())
        if split in self._cache:
            return [self._cache[split][i] for i in sorted(picks)]
        items = self.items[split]
        return [self._load(items[i]) for i in sorted(picks)]

    def calibration(self, count: int) -> list[np.ndarray]:
        """Representative data for the int8 file: ``count`` train images spread over the split,
        preprocessed exactly as at inference (resized, 0..255 float32), in batches of one."""
        return [s.image[None].astype(np.float32) for s in self.spread("train", count)]

    # --- augmentation --------------------------------------------------------------------
    def _train_stream(self, epoch: int) -> Iterator[Sample]:
        train = self.items["train"]
        order = epoch_order(self.spec.seed, epoch, len(train))
        cached = self._cache.get("train")
        if self.spec.recipe:
            from .augmentation import AugmentPool

            if self._augmenter is None:
                workers = int((self.spec.options or {}).get("augment_workers", self.threads))
                self._augmenter = AugmentPool(self.spec, workers=workers)
            jobs = (
                (cached[i] if cached is not None else train[i], sample_seed(self.spec.seed, epoch, int(i)))
                for i in order
            )
            yield from self._augmenter.map(jobs)
        elif cached is not None:
            for i in order:
                yield cached[i]
        else:
            with concurrent.futures.ThreadPoolExecutor(self.threads) as executor:
                yield from bounded_map(self._load, (train[i] for i in order), executor=executor, window=4 * self.threads)

    def close(self) -> None:
        if self._augmenter is not None:
            self._augmenter.close()
            self._augmenter = None

    # --- tf.data -------------------------------------------------------------------------
    def _weight(self, sample: Sample) -> float:
        if not self.class_weights or sample.label is None:
            return 1.0
        return float(self.class_weights.get(int(sample.label), 1.0))

    def target_spec(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Shape and dtype of each target, from the first train sample."""
        if self._target_spec is None:
            first = next(self.samples("train", limit=1))
            targets = self.task.targets(first)
            self._target_spec = {k: (tuple(np.shape(v)), np.asarray(v).dtype) for k, v in targets.items()}
        return self._target_spec

    def _example(self, sample: Sample) -> tuple[np.ndarray, dict[str, np.ndarray], np.float32]:
        targets = self.task.targets(sample)
        spec = self.target_spec()
        return (
            sample.image,
            {k: np.asarray(targets[k], dtype=dtype).reshape(shape) for k, (shape, dtype) in spec.items()},
            np.float32(self._weight(sample)),
        )

    def _signature(self) -> tuple[Any, Any, Any]:
        import tensorflow as tf

        image = tf.TensorSpec((self.size, self.size, 3), tf.uint8)
        targets = {k: tf.TensorSpec(shape, tf.as_dtype(dtype)) for k, (shape, dtype) in self.target_spec().items()}
        return image, targets, tf.TensorSpec((), tf.float32)

    def _tensors(self, split: str) -> tuple[Any, dict[str, Any], Any] | None:
        """A cached split's images, targets and weights as tensors (built once per run), when no
        recipe changes them from epoch to epoch and they fit in the cache budget; else None.

        Un-augmented cached samples have the same targets every epoch: batches are then gathered
        from these tensors inside tf.data (a vectorised gather per batch) instead of passing every
        sample through a Python generator, whose per-sample work and GIL round trips would leave
        the model waiting for input."""
        if split in self._tensor_cache:
            return self._tensor_cache[split]
        tensors = None
        samples = self._cache.get(split)
        if samples and not (split == "train" and self.spec.recipe):
            examples = [self._example(sample) for sample in samples]
            nbytes = sum(e[0].nbytes + sum(t.nbytes for t in e[1].values()) for e in examples)
            if nbytes <= self.cache_bytes:
                import tensorflow as tf

                keys = list(self.target_spec())
                tensors = (
                    tf.constant(np.stack([e[0] for e in examples])),
                    {k: tf.constant(np.stack([e[1][k] for e in examples])) for k in keys},
                    tf.constant(np.asarray([e[2] for e in examples], dtype=np.float32)),
                )
            else:
                log(f"{split}: images and targets need {nbytes / 1e6:.0f} MB, over options.cache_bytes: "
                    "fed through a generator instead.")
        self._tensor_cache[split] = tensors
        return tensors

    def _gathered(self, tensors: tuple[Any, dict[str, Any], Any], order: np.ndarray, batch_size: int, *,
                  drop_remainder: bool) -> Any:
        import tensorflow as tf

        images, targets, weights = tensors

        def gather(indices: Any) -> tuple[Any, Any, Any]:
            return (tf.gather(images, indices), {k: tf.gather(v, indices) for k, v in targets.items()},
                    tf.gather(weights, indices))

        dataset = tf.data.Dataset.from_tensor_slices(order.astype(np.int64)).batch(batch_size, drop_remainder=drop_remainder)
        return dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE)

    def train_dataset(self, epoch: int, batch_size: int) -> Any:
        """One epoch of ``(image float32 0..255, targets[, sample weight])`` batches."""
        import tensorflow as tf

        weighted = bool(self.class_weights)
        steps = self.count("train") // batch_size
        tensors = self._tensors("train")
        if tensors is not None:
            order = epoch_order(self.spec.seed, epoch, self.count("train"))
            dataset = self._gathered(tensors, order, batch_size, drop_remainder=True)
            dataset = dataset.map(_to_float_weighted if weighted else _to_float_unweighted, num_parallel_calls=tf.data.AUTOTUNE)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
            return self._bounded(dataset.prefetch(tf.data.AUTOTUNE))
        if self.spec.recipe or "train" in self._cache:
            # Whole batches from Python (stacked in numpy): tf.data's per-element cost of a
            # generator is paid once a batch, not once a sample.
            image, targets, weight = self._signature()
            dataset = tf.data.Dataset.from_generator(
                lambda: self._remembering(self._batches(self._train_stream(epoch), batch_size)),
                output_signature=(
                    tf.TensorSpec((batch_size, *image.shape), image.dtype),
                    {k: tf.TensorSpec((batch_size, *t.shape), t.dtype) for k, t in targets.items()},
                    tf.TensorSpec((batch_size,), weight.dtype),
                ),
            )
        else:
            dataset = self._decode_in_map(epoch).batch(batch_size, drop_remainder=True)
        dataset = dataset.map(_to_float_weighted if weighted else _to_float_unweighted, num_parallel_calls=tf.data.AUTOTUNE)
        # The generator's length is unknown to tf.data: telling it lets Keras count the steps.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
        return self._bounded(dataset.prefetch(tf.data.AUTOTUNE))

    def _batches(self, samples: Iterator[Sample], batch_size: int) -> Iterator[tuple[np.ndarray, dict, np.ndarray]]:
        """Full batches of ``(images, targets, weights)`` (the last partial batch dropped)."""
        while True:
            chunk = [self._example(s) for s in itertools.islice(samples, batch_size)]
            if len(chunk) < batch_size:
                return
            yield (
                np.stack([c[0] for c in chunk]),
                {k: np.stack([c[1][k] for c in chunk]) for k in chunk[0][1]},
                np.asarray([c[2] for c in chunk], dtype=np.float32),
            )

    def _remembering(self, values: Iterator[Any]) -> Iterator[Any]:
        """Pass ``values`` through; an exception is kept in :attr:`pipeline_error` before tf.data
        wraps it in its own, so the loop can report the original sentence."""
        try:
            yield from values
        except Exception as exc:
            self.pipeline_error = exc
            raise

    def _bounded(self, dataset: Any) -> Any:
        """tf.data's own thread pool bounded like the rest of the run (``spec.threads``)."""
        import tensorflow as tf

        options = tf.data.Options()
        options.threading.private_threadpool_size = self.threads
        options.threading.max_intra_op_parallelism = 1
        return dataset.with_options(options)

    def _decode_in_map(self, epoch: int) -> Any:
        """Uncached, un-augmented train images: decoded in parallel inside ``tf.data``."""
        import tensorflow as tf

        train = self.items["train"]
        keys = list(self.target_spec())
        image_spec, target_specs, weight_spec = self._signature()

        def load(index: Any) -> list[np.ndarray]:
            try:
                image, targets, weight = self._example(self._load(train[int(index)]))
            except Exception as exc:
                self.pipeline_error = exc
                raise
            return [image, *(targets[k] for k in keys), np.asarray(weight, dtype=np.float32)]

        def decode(index: Any) -> tuple[Any, Any, Any]:
            out = tf.numpy_function(
                load, [index], [image_spec.dtype, *(target_specs[k].dtype for k in keys), tf.float32], stateful=False
            )
            out[0].set_shape(image_spec.shape)
            for k, tensor in zip(keys, out[1:-1]):
                tensor.set_shape(target_specs[k].shape)
            out[-1].set_shape(())
            return out[0], dict(zip(keys, out[1:-1])), out[-1]

        order = epoch_order(self.spec.seed, epoch, len(train)).astype(np.int64)
        return tf.data.Dataset.from_tensor_slices(order).map(
            decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def eval_dataset(self, split: str, batch_size: int) -> Any:
        """``(image, targets)`` batches of a split, un-augmented, for the Keras loss on it."""
        import tensorflow as tf

        tensors = self._tensors(split)
        if tensors is not None:
            order = np.arange(self.count(split))
            dataset = self._gathered(tensors, order, batch_size, drop_remainder=False).map(_to_float_unweighted)
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-self.count(split) // batch_size)))
            return self._bounded(dataset.prefetch(tf.data.AUTOTUNE))
        image_spec, target_specs, _ = self._signature()
        dataset = tf.data.Dataset.from_generator(
            lambda: (self._example(s)[:2] for s in self.samples(split)), output_signature=(image_spec, target_specs)
        )
        dataset = dataset.batch(batch_size).map(_to_float_pair)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-self.count(split) // batch_size)))
        return self._bounded(dataset.prefetch(tf.data.AUTOTUNE))


def _to_float_weighted(image: Any, targets: Any, weight: Any) -> tuple[Any, Any, Any]:
    import tensorflow as tf

    return tf.cast(image, tf.float32), targets, weight


def _to_float_unweighted(image: Any, targets: Any, weight: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    return tf.cast(image, tf.float32), targets


def _to_float_pair(image: Any, targets: Any) -> tuple[Any, Any]:
    import tensorflow as tf

    return tf.cast(image, tf.float32), targets
