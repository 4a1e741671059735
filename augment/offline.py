"""The offline augmentation engine: augmented copies of a dataset's train images, in parallel.

The dataset-version build (``export``) calls :func:`augment_items` for the train split of a
version (directly, through :func:`augment.services.train_images_augment`, or as the ready-made
step :func:`augment.version_step.step_augment`); the corruption suite
(:func:`augment.services.corruption_build`) uses the same machinery, :func:`run_engine`, for any
split.

Contract of :func:`augment_items`
---------------------------------
Input ``items``: a sequence of dicts, one per source image::

    {"key": 17,                      # the source Image id (anything hashable and str()-able)
     "path": "/media/images/ab/ab...jpg",   # the stored file
     "split": "train",               # must be "train": val/test are never augmented
     "annotations": [                # geometry as stored (pixels of this image)
        {"label": 3, "kind": "box", "geometry": {"x": .., "y": .., "w": .., "h": ..}, ...}, ...]}

``labels`` maps each annotation's ``label`` value to ``{"name": str, "keypoint_names": [...]}``
(needed for keypoint classes: left/right pairs are derived from the names, or taken from the
recipe's ``flip_pairs`` keyed by label name).

Output: an iterator, in input order (item by item, copy 0..copies-1 within an item), of dicts::

    {"key": 17, "copy": 0,
     "image": b"...", "mime_type": "image/jpeg", "extension": "jpg", "width": 640, "height": 480,
     "annotations": [ {...the input annotation..., "geometry": <transformed>, "bbox": [x, y, w, h]}, ...],
     "meta": {"seed": 123456789, "recipe": <recipe ref>, "source_image": 17, "copy": 0,
              "spec_sha256": "..."}}

Only the augmented copies are produced; the version keeps the original image next to them
(Roboflow's semantics: original + ``copies``). Annotations that leave the frame are dropped
(keypoints are not: they become ``[0, 0, 0]``). The caller stores the images with source
``augmented`` in the version, with ``meta`` recorded on them, and never in the labeling queue.

Determinism: copy ``c`` of item ``key`` uses the seed :func:`derive_seed` ``(seed, key, c)``, so
the output is the same whatever ``processes`` is and however the work is scheduled.

Parallelism: ``processes > 1`` runs a pool of worker processes started with ``forkserver``
(``spawn`` where that is unavailable), never a bare ``fork`` of the caller -- the caller may be a
Celery worker holding database connections and threads (the job heartbeat), and OpenCV's thread
pool does not survive ``fork``. Workers import only this module, albumentations and numpy: no
Django, no settings, no database; everything they need travels in the arguments. Each worker
runs OpenCV single-threaded so that N processes use N cores. Items travel in small chunks
(:func:`chunk_size`) so that the pool's per-task messaging does not cost the consuming process
more than it saves. The pool also starts from inside a Celery prefork child (see
:func:`_children_allowed`), keeps at most a few chunks per worker in flight (memory stays bounded
when the consumer is slow), and gives up with an error if a worker dies mid-chunk rather than
waiting forever.

Errors: a non-train item, a missing or undecodable file, or a bad spec raise
:class:`AugmentError` (a ``ValueError``) with a sentence naming the item; the version build turns
it into a failed job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from annotate import split_names

from .pipeline import Augmenter, LabelInfo
from .recipes import RecipeError, validate_spec

TRAIN = split_names.TRAIN
DEFAULT_QUALITY = 95
# Chunks in flight per worker process: one being worked on, one waiting, so a worker never idles;
# with MAX_CHUNK that bounds what is held to processes x 2 x 8 items' copies, however slow the
# consumer.
WINDOW_PER_PROCESS = 2
MAX_CHUNK = 8  # items per task at most; at least CHUNKS_PER_PROCESS chunks per worker balance the end
CHUNKS_PER_PROCESS = 8
# A worker killed mid-chunk (out of memory) leaves multiprocessing's pool waiting forever; no chunk
# of a few images takes this long, so past it the engine gives up with an error instead of hanging.
RESULT_TIMEOUT = 600


class AugmentError(ValueError):
    """Input the engine cannot work on; the message says which item and why."""


def derive_seed(seed: int, key: Any, copy: int) -> int:
    """The seed of one copy of one image: stable across processes, runs and machines."""
    digest = hashlib.sha256(f"{int(seed)}:{key}:{int(copy)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def spec_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def label_infos(labels: Mapping[Any, Mapping[str, Any] | LabelInfo] | None) -> dict[Any, LabelInfo]:
    """Labels as the pipeline wants them, from plain dicts {"name", "keypoint_names"} or LabelInfo."""
    out = {}
    for key, info in (labels or {}).items():
        if isinstance(info, LabelInfo):
            out[key] = info
        else:
            out[key] = LabelInfo(name=str(info.get("name", key)), keypoint_names=tuple(info.get("keypoint_names") or ()))
    return out


def read_image(path: str) -> np.ndarray:
    """A stored image file as H x W x 3 uint8 RGB (stored files are already upright)."""
    data = np.fromfile(path, dtype=np.uint8) if os.path.exists(path) else None
    if data is None or data.size == 0:
        raise AugmentError(f"The image file {path} is missing or empty.")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise AugmentError(f"The image file {path} cannot be decoded.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_jpeg(image: np.ndarray, quality: int = DEFAULT_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise AugmentError("JPEG encoding failed.")
    return buf.tobytes()


def chunk_size(total: int, processes: int) -> int:
    """Items per task: up to MAX_CHUNK, small enough that every worker gets several chunks."""
    return max(1, min(MAX_CHUNK, total // (processes * CHUNKS_PER_PROCESS)))


class _Engine:
    """What one process needs to augment items: the built recipe and the output settings."""

    def __init__(self, spec: dict, labels: dict[Any, LabelInfo], recipe: Any, quality: int):
        self.augmenter = Augmenter(spec, labels=labels)
        self.recipe = recipe
        self.quality = quality
        self.digest = spec_digest(spec)

    def run(self, item: dict, seed: int, copies: int) -> list[dict]:
        image = read_image(item["path"])
        out = []
        for copy in range(copies):
            copy_seed = derive_seed(seed, item["key"], copy)
            try:
                augmented, annotations = self.augmenter(image, item.get("annotations", []), seed=copy_seed)
            except (ValueError, KeyError, TypeError) as exc:
                raise AugmentError(f"Image {item['key']}: cannot augment it ({exc}).") from exc
            out.append({
                "key": item["key"],
                "copy": copy,
                "image": encode_jpeg(augmented, self.quality),
                "mime_type": "image/jpeg",
                "extension": "jpg",
                "width": int(augmented.shape[1]),
                "height": int(augmented.shape[0]),
                "annotations": annotations,
                "meta": {"seed": copy_seed, "recipe": self.recipe, "source_image": item["key"], "copy": copy,
                         "spec_sha256": self.digest},
            })
        return out


_worker_engine: _Engine | None = None


def _worker_init(spec: dict, labels: dict, recipe: Any, quality: int) -> None:
    global _worker_engine
    cv2.setNumThreads(1)
    _worker_engine = _Engine(spec, labels, recipe, quality)


def _worker_run(args: tuple[list[dict], int, int]) -> list[list[dict]]:
    chunk, seed, copies = args
    assert _worker_engine is not None
    return [_worker_engine.run(item, seed, copies) for item in chunk]


def _forget_inherited_forkserver() -> None:
    """In a child made by ``fork`` (e.g. Celery's prefork pool), drop the parent's forkserver.

    multiprocessing keeps the forkserver in module state; a forked child inherits the parent's
    and then fails on it (it is not the child's own process). Starting afresh is what it needs.
    """
    forkserver = getattr(multiprocessing, "forkserver", None)
    server = getattr(forkserver, "_forkserver", None)
    if server is not None and getattr(server, "_forkserver_pid", None) is not None:
        server.__init__()


if hasattr(os, "register_at_fork"):
    import multiprocessing.forkserver  # noqa: F401  (so that the hook finds it)

    os.register_at_fork(after_in_child=_forget_inherited_forkserver)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["augment.offline"])
        return ctx
    return multiprocessing.get_context("spawn")


def run_engine(
    *,
    spec: dict,
    items: Sequence[dict],
    copies: int,
    seed: int,
    processes: int = 1,
    progress: Callable[[float, str], None] | None = None,
    labels: Mapping[Any, Mapping[str, Any] | LabelInfo] | None = None,
    recipe: Any = None,
    quality: int = DEFAULT_QUALITY,
) -> Iterator[dict]:
    """Augment ``copies`` copies of every item, whatever its split (see :func:`augment_items`)."""
    try:
        validate_spec(spec)
    except RecipeError as exc:
        raise AugmentError(f"The recipe cannot be used: {exc}") from exc
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise AugmentError(f"copies must be a whole number >= 1, got {copies!r}.")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise AugmentError(f"processes must be a whole number >= 1, got {processes!r}.")
    items = list(items)
    for item in items:
        if "key" not in item or "path" not in item:
            raise AugmentError("Each item needs a 'key' (the source image) and a 'path' (its file).")
    return _generate(spec, items, copies, seed, processes, progress, label_infos(labels), recipe, quality)


def _generate(spec, items, copies, seed, processes, progress, infos, recipe, quality) -> Iterator[dict]:
    total = len(items)
    if total == 0:
        return
    processes = min(processes, total)
    if processes == 1:
        engine = _Engine(spec, infos, recipe, quality)
        results = (engine.run(item, seed, copies) for item in items)
        yield from _report(results, total, progress)
        return
    ctx = _context()
    with _children_allowed():
        pool = ctx.Pool(processes, initializer=_worker_init, initargs=(spec, infos, recipe, quality))
    with pool:
        chunks = _bounded(pool, items, seed, copies, size=chunk_size(total, processes),
                          window=processes * WINDOW_PER_PROCESS)
        yield from _report((outputs for chunk in chunks for outputs in chunk), total, progress)


@contextlib.contextmanager
def _children_allowed():
    """Let a Celery prefork pool child (a daemonic billiard process) start the engine's pool.

    Two things stand in the way there, both about the *current* process object that billiard
    installs: multiprocessing refuses children to daemonic processes (so that none outlive their
    parent), and billiard's authentication key refuses to be pickled into the start-up data of a
    forkserver child. The engine's pool cannot outlive its parent -- it is closed or terminated when
    the engine's generator ends or is abandoned (``with pool``), and its workers belong to the
    forkserver, which exits when its parent goes away -- so for the moment the workers start, the
    flag is lifted and the key is presented as a plain multiprocessing key (same bytes).
    """
    config = multiprocessing.current_process()._config
    saved = {key: config[key] for key in ("daemon", "authkey") if key in config}
    config["daemon"] = False
    if "authkey" in saved:
        config["authkey"] = multiprocessing.process.AuthenticationString(bytes(saved["authkey"]))
    try:
        yield
    finally:
        config.pop("daemon", None)
        config.update(saved)


def _bounded(pool, items: Sequence[dict], seed: int, copies: int, *, size: int, window: int) -> Iterator[list[list[dict]]]:
    """Results of chunks of ``size`` items, in input order, with at most ``window`` chunks in flight.

    ``Pool.imap`` would run ahead of a slow consumer (one writing files and rows) and hold every
    finished image in memory; here a new chunk is sent only when one has been taken.
    """
    chunks = (list(items[start : start + size]) for start in range(0, len(items), size))
    pending: deque = deque()
    for chunk in chunks:
        pending.append(pool.apply_async(_worker_run, ((chunk, seed, copies),)))
        if len(pending) >= window:
            break
    while pending:
        try:
            outputs = pending.popleft().get(timeout=RESULT_TIMEOUT)
        except multiprocessing.TimeoutError:
            raise AugmentError(
                f"A worker process gave no result for {RESULT_TIMEOUT} s (killed, or out of memory?); stopping."
            ) from None
        following = next(chunks, None)
        if following is not None:
            pending.append(pool.apply_async(_worker_run, ((following, seed, copies),)))
        yield outputs


def _report(results, total: int, progress) -> Iterator[dict]:
    for done, outputs in enumerate(results, start=1):
        yield from outputs
        if progress is not None:
            progress(done / total, f"Augmented {done} of {total} images")


def augment_items(
    *,
    spec: dict,
    items: Sequence[dict],
    copies: int,
    seed: int,
    processes: int = 1,
    progress: Callable[[float, str], None] | None = None,
    labels: Mapping[Any, Mapping[str, Any] | LabelInfo] | None = None,
    recipe: Any = None,
    quality: int = DEFAULT_QUALITY,
) -> Iterator[dict]:
    """Augmented copies of train items for a dataset version (the contract is in the module doc).

    Refuses, before doing any work, items whose ``split`` is not ``"train"``: validation and test
    images are never augmented (they would leak augmented near-duplicates into evaluation).
    """
    items = list(items)
    for item in items:
        split = item.get("split")
        if split != TRAIN:
            raise AugmentError(
                f"Only train images are augmented; image {item.get('key')!r} is in split {split!r}. "
                "Pass the train split only."
            )
    return run_engine(
        spec=spec, items=items, copies=copies, seed=seed, processes=processes, progress=progress,
        labels=labels, recipe=recipe, quality=quality,
    )
