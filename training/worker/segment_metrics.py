"""Semantic segmentation metrics, figures and drawing: numpy only (no TensorFlow), so the same code
scores the Keras model and every exported file.

**Metrics** (:func:`evaluate_segmentation`): one ``C x C`` pixel confusion matrix over all the
evaluated images (rows: true class, columns: predicted, in label order), pixels whose truth is
:data:`~training.worker.task_api.IGNORE` left out. From it, per class ``c``:
``IoU_c = TP / (TP + FP + FN)`` with ``TP = M[c, c]``, ``FP`` the rest of column ``c`` and ``FN``
the rest of row ``c``. Then

* ``miou`` (the headline): the mean IoU over the classes that occur in the ground truth or in the
  prediction (``TP + FP + FN > 0``; background included); 0.0 when no pixel counts;
* ``per_class_iou``: label -> IoU, or None for a class absent from both;
* ``pixel_accuracy``: the share of counted pixels whose class is right (``trace / sum``);
* ``confusion_matrix``: the matrix as a list of lists; ``pixels``: the counted pixels; ``images``.

The prediction is the export model's ``class_map`` output, or the argmax of its ``scores`` output
(either may be present, whichever the run exports; ties go to the lower class index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.worker.task_api import IGNORE, Predict, Sample

EVAL_BATCH = 16
BLEND = 0.5  # the class colour's share over the image in draw_class_map


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """The ``(C, C)`` int64 pixel confusion matrix of class maps of any (equal) shape: rows the
    true class, columns the predicted one; pixels whose truth is :data:`IGNORE` are left out."""
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(f"{truth.size} true pixels but {predicted.size} predicted ones")
    counted = truth != IGNORE
    truth, predicted = truth[counted], predicted[counted]
    if truth.size and (truth.min() < 0 or truth.max() >= num_classes):
        raise ValueError(f"a true class index {int(truth.max())} is outside 0..{num_classes - 1}")
    if predicted.size and (predicted.min() < 0 or predicted.max() >= num_classes):
        raise ValueError(f"a predicted class index {int(predicted.max())} is outside 0..{num_classes - 1}")
    counts = np.bincount(truth * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def segmentation_metrics(confusion: np.ndarray, labels: Sequence[str], *, images: int | None = None) -> dict[str, Any]:
    """``miou``, ``per_class_iou``, ``pixel_accuracy``, ``confusion_matrix``, ``pixels`` (module doc)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - np.diag(confusion)
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    total = int(confusion.sum())
    metrics: dict[str, Any] = {
        "miou": float(iou[present].mean()) if present.any() else 0.0,
        "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
        "per_class_iou": {str(name): (float(iou[i]) if present[i] else None) for i, name in enumerate(labels)},
        "confusion_matrix": confusion.tolist(),
        "pixels": total,
    }
    if images is not None:
        metrics["images"] = int(images)
    return metrics


def predicted_class_map(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """``(B, S, S)`` class indices from the export model's outputs: ``class_map`` as it is, or the
    argmax of ``scores`` over its last axis."""
    if "class_map" in outputs:
        return np.rint(np.asarray(outputs["class_map"], dtype=np.float64)).astype(np.int64)
    if "scores" in outputs:
        return np.asarray(outputs["scores"]).argmax(axis=-1)
    raise KeyError(f"a segmentation model outputs class_map or scores, not {sorted(outputs)}")


def evaluate_segmentation(predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
    """The metrics of ``predict`` on ``samples`` (each with its ``mask``), batch by batch."""
    count = len(labels)
    confusion = np.zeros((count, count), dtype=np.int64)
    images = 0

    def flush(batch: list[Sample]) -> None:
        nonlocal confusion
        out = predict(np.stack([s.image for s in batch]).astype(np.float32))
        predicted = predicted_class_map(out)
        for sample, prediction in zip(batch, predicted):
            confusion += confusion_matrix(_truth(sample), prediction, count)

    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        images += 1
        if len(batch) == EVAL_BATCH:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return segmentation_metrics(confusion, labels, images=images)


def _truth(sample: Sample) -> np.ndarray:
    mask = getattr(sample, "mask", None)
    if mask is None:
        raise ValueError(f"the sample of {Path(sample.item.path).name or 'an image'} has no class map (mask)")
    return np.asarray(mask)


# --- figures and drawing ----------------------------------------------------------------------------


def plot_metrics(metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
    """``per_class_iou.png`` (a bar per class) and ``confusion_matrix.png`` in ``folder``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import confusion_matrix_figure

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []

    per_class = metrics.get("per_class_iou") or {}
    names = [str(n) for n in labels] or list(per_class)
    figure = Figure(figsize=(6, max(2.5, 0.35 * len(names) + 1.2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    ys = np.arange(len(names))
    colours = [_hex(colour) if i else "#9e9e9e" for i, colour in enumerate(palette(len(names)))]
    axes.barh(ys, [per_class.get(n) or 0.0 for n in names], height=0.6, color=colours)
    for y, name in zip(ys, names):
        value = per_class.get(name)
        text = "absent from truth and prediction" if value is None else f"{value:.3f}"
        axes.text(0.01 if value is None else value + 0.01, y, text, va="center", ha="left", fontsize=8,
                  color="#666666" if value is None else "black")
    axes.set_yticks(ys, names)
    axes.invert_yaxis()
    axes.set(xlim=(0, 1.12), xlabel="IoU")
    axes.set_xticks(np.linspace(0, 1, 6))
    axes.set_title(f"Per-class IoU (mIoU {metrics.get('miou', 0.0):.3f})")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    path = folder / "per_class_iou.png"
    figure.savefig(path)
    written.append(("per_class_iou", path))

    matrix = metrics.get("confusion_matrix")
    if matrix:
        path = folder / "confusion_matrix.png"
        confusion_matrix_figure(np.asarray(matrix), list(labels), path, title="Pixel confusion matrix")
        written.append(("confusion_matrix", path))
    return written


def _hex(colour: np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in colour)


def palette(count: int) -> np.ndarray:
    """``(count, 3)`` uint8 colours, fixed for every run: the PASCAL VOC colour map (class 0 black,
    then 128/64/192-level mixes of red, green and blue by the bits of the index)."""
    colours = np.zeros((max(count, 0), 3), dtype=np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours


def draw_class_map(image: np.ndarray, class_map: np.ndarray, num_classes: int, *, alpha: float = BLEND) -> np.ndarray:
    """``image`` (uint8 RGB ``(S, S, 3)``) with the class map's object pixels blended in their
    :func:`palette` colour (``alpha`` colour, ``1 - alpha`` image); background (0) is left as is."""
    image = np.asarray(image, dtype=np.uint8)
    classes = np.asarray(class_map).astype(np.int64).reshape(image.shape[:2])
    colours = palette(max(num_classes, int(classes.max(initial=0)) + 1)).astype(np.float32)
    objects = (classes > 0) & (classes != IGNORE)
    out = image.astype(np.float32)
    out[objects] = (1.0 - alpha) * out[objects] + alpha * colours[classes[objects]]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
