"""Detection metrics, figures and drawings: COCO evaluation through pycocotools, a precision-recall
curve and a per-class AP bar chart (matplotlib, Agg, no pyplot state), boxes drawn on an image (PIL).

**Metrics** (:func:`evaluate_detections`), on the *original* image pixels (the export model's
normalised boxes are scaled to the input and mapped back through each sample's letterbox
``original = (input - offset) / scale``, then clipped to the image); ground truth is each version
image's own boxes (``item.boxes``), so resizing never touches the reference:

* ``map`` — COCO AP@[.5:.95] (area "all", 100 detections per image), ``map50`` — AP@.5 (the
  headline), ``map75`` — AP@.75; ``mar100`` — AR@[.5:.95] with 100 detections;
* ``per_class_ap`` / ``per_class_ap50`` — ``{label: AP}``, ``None`` for a class with no ground
  truth in the set (it is left out of the means, as COCO does);
* ``pr_curve`` — ``{"iou": 0.5, "recall": [0, .01, ..., 1], "precision": [...]}``: COCO's
  interpolated precision at each of its 101 recall points at IoU 0.5, averaged over the classes
  that have ground truth (its mean is ``map50``);
* ``images``, ``objects`` (ground-truth boxes), ``detections`` (kept for the evaluation).

All detections with score >= :data:`EVAL_MIN_SCORE` enter the evaluation, not only the ``count``
above the app threshold: low-score detections can only add recall at the tail of the PR curve,
which is how COCO AP is meant to be measured. No detections (or no ground truth) gives zeros, not
an exception. pycocotools' prints are swallowed.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.worker.task_api import Predict, Sample

EVAL_MIN_SCORE = 1e-3
BATCH = 16
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def evaluate_detections(
    predict: Predict, samples: Iterable[Sample], labels: Sequence[str], *, batch_size: int = BATCH
) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []

    def flush(batch: list[Sample]) -> None:
        outputs = predict(np.stack([s.image for s in batch]).astype(np.float32))
        for i, sample in enumerate(batch):
            image_id = len(images) + 1
            images.append({"id": image_id, "width": int(sample.item.width), "height": int(sample.item.height)})
            for x, y, w, h, label in (box[:5] for box in sample.item.boxes):
                if w > 0 and h > 0:
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": image_id,
                            "category_id": int(label) + 1,
                            "bbox": [float(x), float(y), float(w), float(h)],
                            "area": float(w) * float(h),
                            "iscrowd": 0,
                        }
                    )
            detections.extend(_image_detections(sample, {k: np.asarray(v)[i] for k, v in outputs.items()}, image_id))
        batch.clear()

    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            flush(batch)
    if batch:
        flush(batch)
    return coco_metrics(images, annotations, detections, labels)


def _image_detections(sample: Sample, outputs: dict[str, np.ndarray], image_id: int) -> list[dict[str, Any]]:
    """One image's decoded outputs as COCO results in original pixels (``[x, y, w, h]``)."""
    boxes = np.asarray(outputs["boxes"], np.float64).reshape(-1, 4)
    scores = np.asarray(outputs["scores"], np.float64).reshape(-1)
    classes = np.rint(np.asarray(outputs["classes"], np.float64)).astype(int).reshape(-1)
    height, width = sample.image.shape[:2]
    (sx, sy), (ox, oy) = sample.scale, sample.offset
    keep = scores >= EVAL_MIN_SCORE
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    x0 = np.clip((boxes[:, 1] * width - ox) / sx, 0, sample.item.width)
    y0 = np.clip((boxes[:, 0] * height - oy) / sy, 0, sample.item.height)
    x1 = np.clip((boxes[:, 3] * width - ox) / sx, 0, sample.item.width)
    y1 = np.clip((boxes[:, 2] * height - oy) / sy, 0, sample.item.height)
    found = []
    for bx0, by0, bx1, by1, score, label in zip(x0, y0, x1, y1, scores, classes):
        if bx1 > bx0 and by1 > by0 and label >= 0:
            found.append(
                {
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)],
                    "score": float(score),
                }
            )
    return found


def coco_metrics(
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    detections: list[dict[str, Any]],
    labels: Sequence[str],
) -> dict[str, Any]:
    """COCO box metrics of in-memory ground truth and detections (COCO dicts, category id = class
    index + 1). See the module doc for the keys."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    num = len(labels)
    has_truth = np.zeros(num, bool)
    for annotation in annotations:
        has_truth[annotation["category_id"] - 1] = True
    precision = np.zeros((10, len(RECALL_POINTS), num))  # T, R, K at area "all", 100 detections
    mar100 = 0.0
    if images and annotations and detections:
        with contextlib.redirect_stdout(io.StringIO()):
            truth = COCO()
            truth.dataset = {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": i + 1, "name": str(name)} for i, name in enumerate(labels)],
            }
            truth.createIndex()
            results = truth.loadRes(detections)
            evaluation = COCOeval(truth, results, "bbox")
            evaluation.params.catIds = list(range(1, num + 1))
            evaluation.evaluate()
            evaluation.accumulate()
        area, dets = evaluation.params.areaRngLbl.index("all"), evaluation.params.maxDets.index(100)
        precision = np.asarray(evaluation.eval["precision"])[:, :, :, area, dets]
        recall = np.asarray(evaluation.eval["recall"])[:, :, area, dets]
        valid = recall[:, has_truth]
        mar100 = float(valid.mean()) if valid.size else 0.0
    precision = np.where(precision < 0, 0.0, precision)  # -1 marks classes without truth (masked below)
    per_class = precision.mean(axis=(0, 1))
    per_class50 = precision[0].mean(axis=0)
    if has_truth.any():
        valid = precision[:, :, has_truth]  # T, R, classes with truth
        pr = valid[0].mean(axis=1)
        ap, ap50, ap75 = float(valid.mean()), float(valid[0].mean()), float(valid[5].mean())
    else:
        pr, ap, ap50, ap75 = np.zeros(len(RECALL_POINTS)), 0.0, 0.0, 0.0
    return {
        "map": ap,
        "map50": ap50,
        "map75": ap75,
        "mar100": mar100,
        "per_class_ap": {str(n): float(per_class[i]) if has_truth[i] else None for i, n in enumerate(labels)},
        "per_class_ap50": {str(n): float(per_class50[i]) if has_truth[i] else None for i, n in enumerate(labels)},
        "pr_curve": {
            "iou": 0.5,
            "recall": [round(float(r), 4) for r in RECALL_POINTS],
            "precision": [float(p) for p in pr],
        },
        "images": len(images),
        "objects": len(annotations),
        "detections": len(detections),
    }


# --- figures --------------------------------------------------------------------------------------


def plot_metrics(metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
    """``pr_curve.png`` (precision-recall at IoU 0.5) and ``per_class_ap.png`` in ``folder``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    curve = metrics.get("pr_curve") or {}
    figure = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.plot(curve.get("recall", []), curve.get("precision", []), color="#1f77b4", linewidth=2)
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="Recall", ylabel="Precision")
    axes.set_title(f"Precision-recall at IoU 0.5 (mAP@.5 {metrics.get('map50', 0.0):.3f})")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path = folder / "pr_curve.png"
    figure.savefig(path)
    written.append(("pr_curve", path))

    per_class = metrics.get("per_class_ap") or {}
    per_class50 = metrics.get("per_class_ap50") or {}
    names = [str(n) for n in labels] or list(per_class)
    figure = Figure(figsize=(6, max(2.5, 0.35 * len(names) + 1.2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    ys = np.arange(len(names))
    ap = [per_class.get(n) or 0.0 for n in names]
    ap50 = [per_class50.get(n) or 0.0 for n in names]
    axes.barh(ys + 0.2, ap50, height=0.4, color="#9ecae1", label="AP@.5")
    axes.barh(ys - 0.2, ap, height=0.4, color="#1f77b4", label="AP@[.5:.95]")
    for y, name in zip(ys, names):
        if per_class.get(name) is None:
            axes.text(0.01, y, "no ground truth", va="center", fontsize=8, color="#666666")
    axes.set_yticks(ys, names)
    axes.invert_yaxis()
    axes.set(xlim=(0, 1), xlabel="AP")
    axes.set_title(f"Per-class AP (mAP {metrics.get('map', 0.0):.3f})")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path = folder / "per_class_ap.png"
    figure.savefig(path)
    written.append(("per_class_ap", path))
    return written


PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
]  # fmt: skip


def draw_detections(
    image: np.ndarray, outputs: dict[str, np.ndarray], labels: Sequence[str], *, score_threshold: float = 0.05
) -> np.ndarray:
    """``image`` (uint8 RGB, the model input) with the first ``count`` detections of one image
    (outputs without the batch axis) drawn: a box, the class name and the score."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    height, width = image.shape[:2]
    boxes = np.asarray(outputs["boxes"], np.float64).reshape(-1, 4)
    scores = np.asarray(outputs["scores"], np.float64).reshape(-1)
    classes = np.rint(np.asarray(outputs["classes"], np.float64)).astype(int).reshape(-1)
    count = int(np.asarray(outputs.get("count", (scores >= score_threshold).sum())).reshape(-1)[0])
    line = max(1, round(min(height, width) / 160))
    for box, score, label in list(zip(boxes, scores, classes))[:count]:
        if score < score_threshold:
            continue
        y0, x0, y1, x1 = box[0] * height, box[1] * width, box[2] * height, box[3] * width
        colour = PALETTE[label % len(PALETTE)] if label >= 0 else (255, 255, 255)
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        name = labels[label] if 0 <= label < len(labels) else str(label)
        text = f"{name} {score:.2f}"
        left, top, right, bottom = draw.textbbox((x0, y0), text, font=font)
        ty = y0 - (bottom - top) - 2 if y0 - (bottom - top) - 2 >= 0 else y0
        draw.rectangle([x0, ty, x0 + (right - left) + 4, ty + (bottom - top) + 2], fill=colour)
        draw.text((x0 + 2, ty), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas, dtype=np.uint8)
