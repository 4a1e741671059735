"""Keypoint metrics, figures and drawings: COCO OKS evaluation through pycocotools, a per-keypoint
AP bar chart (matplotlib, Agg, no pyplot state), instances drawn on an image (PIL).

**Metrics** (:func:`evaluate_keypoints`), in *input* pixels (the export model's normalised boxes and
keypoints times the input size; ground truth is each sample's own ``boxes`` and ``keypoints``,
which the resize moved with the image). Each ground-truth instance is its keypoints (visibility
0/1/2; 1 and 2 both count, as in COCO), ``area`` = its box's ``w * h`` and ``num_keypoints`` = its
labeled keypoints; an instance with none is *ignored* by COCO (neither found nor missed, a
detection on it is no false positive). ``COCOeval(truth, results, "keypoints")`` with
``params.kpt_oks_sigmas`` = the spec's sigmas, so a detection's similarity to an instance is
``OKS = mean over the labeled keypoints of exp(-d^2 / (2 * area * (2 * sigma)^2))``:

* ``oks_ap`` — AP over OKS thresholds .50:.05:.95 (area "all", COCO's 20 detections per image),
  the headline; ``oks_ap50``, ``oks_ap75`` — AP at OKS .5 and .75; ``oks_ar`` — AR over .50:.95;
* ``per_keypoint_ap`` — ``{name: AP@[.5:.95]}`` with only that keypoint counted (every other
  keypoint of the ground truth set to unlabeled, instances without it ignored), ``None`` for a
  keypoint no instance has;
* ``images``, ``instances`` (ground-truth instances with at least one labeled keypoint),
  ``detections`` (kept for the evaluation).

All detections with score >= :data:`EVAL_MIN_SCORE` enter the evaluation (COCO keeps the best 20
of each image). No detections or no labeled instances give zeros, not an exception (pycocotools
cannot load an empty result list). pycocotools' prints are swallowed.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.worker.classify import batch_images, iter_batches
from training.worker.detect_metrics import PALETTE
from training.worker.task_api import Predict, Sample

EVAL_MIN_SCORE = 1e-3
BATCH = 16
MAX_DETS = 20  # COCO's keypoint evaluation: the best 20 detections of each image


def evaluate_keypoints(
    predict: Predict,
    samples: Iterable[Sample],
    keypoint_names: Sequence[str],
    sigmas: Sequence[float],
    *,
    batch_size: int = BATCH,
) -> dict[str, Any]:
    k = len(keypoint_names)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for batch in iter_batches(samples, batch_size):
        outputs = predict(batch_images(batch))
        for i, sample in enumerate(batch):
            image_id = len(images) + 1
            height, width = sample.image.shape[:2]
            images.append({"id": image_id, "width": int(width), "height": int(height)})
            annotations.extend(_truth(sample, k, image_id, first_id=len(annotations) + 1))
            detections.extend(_image_detections(sample, {key: np.asarray(v)[i] for key, v in outputs.items()}, image_id))
    return oks_metrics(images, annotations, detections, keypoint_names, sigmas)


def _truth(sample: Sample, k: int, image_id: int, first_id: int) -> list[dict[str, Any]]:
    from training.worker.keypoints import sample_keypoints

    boxes = np.asarray(sample.boxes, np.float64).reshape(-1, 4)
    points = sample_keypoints(sample, k).astype(np.float64)
    found: list[dict[str, Any]] = []
    for (x, y, w, h), kps in zip(boxes, points):
        if w <= 0 or h <= 0:
            continue
        visible = kps[:, 2] > 0
        flat = np.where(visible[:, None], kps, 0.0)
        flat[:, 2] = np.where(visible, np.maximum(kps[:, 2], 1.0), 0.0)
        found.append(
            {
                "id": first_id + len(found),
                "image_id": image_id,
                "category_id": 1,
                "bbox": [float(x), float(y), float(w), float(h)],
                "area": float(w) * float(h),
                "iscrowd": 0,
                "keypoints": [float(v) for v in flat.reshape(-1)],
                "num_keypoints": int(visible.sum()),
            }
        )
    return found


def _image_detections(sample: Sample, outputs: dict[str, np.ndarray], image_id: int) -> list[dict[str, Any]]:
    """One image's decoded outputs as COCO keypoint results in input pixels."""
    height, width = sample.image.shape[:2]
    scores = np.asarray(outputs["scores"], np.float64).reshape(-1)
    points = np.asarray(outputs["keypoints"], np.float64).reshape(len(scores), -1, 3)
    found: list[dict[str, Any]] = []
    for score, kps in zip(scores, points):
        if score < EVAL_MIN_SCORE:
            continue
        xy = np.stack([kps[:, 0] * width, kps[:, 1] * height, kps[:, 2]], axis=1)
        found.append(
            {
                "image_id": image_id,
                "category_id": 1,
                "keypoints": [float(v) for v in xy.reshape(-1)],
                "score": float(score),
            }
        )
    return found


def _coco_eval(
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    detections: list[dict[str, Any]],
    sigmas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """COCO precision ``(T, R)`` and recall ``(T,)`` at area "all", 20 detections; None when there is
    nothing to evaluate (no image, no labeled instance, or no detection)."""
    if not images or not detections or not any(a["num_keypoints"] > 0 for a in annotations):
        return None
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "instance", "keypoints": [str(i) for i in range(len(sigmas))]}],
        }
        truth.createIndex()
        results = truth.loadRes(copy.deepcopy(detections))
        evaluation = COCOeval(truth, results, "keypoints")
        evaluation.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        evaluation.params.maxDets = [MAX_DETS]
        evaluation.params.catIds = [1]
        evaluation.evaluate()
        evaluation.accumulate()
    area = evaluation.params.areaRngLbl.index("all")
    precision = np.asarray(evaluation.eval["precision"])[:, :, 0, area, 0]
    recall = np.asarray(evaluation.eval["recall"])[:, 0, area, 0]
    return np.where(precision < 0, 0.0, precision), np.where(recall < 0, 0.0, recall)


def oks_metrics(
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    detections: list[dict[str, Any]],
    keypoint_names: Sequence[str],
    sigmas: Sequence[float],
) -> dict[str, Any]:
    """COCO OKS metrics of in-memory ground truth and detections (COCO keypoint dicts, category 1).
    See the module doc for the keys."""
    sigma = np.asarray(sigmas, np.float64).reshape(-1)
    k = len(keypoint_names)
    if len(sigma) != k:
        raise ValueError(f"{len(sigma)} OKS sigmas for {k} keypoints.")
    evaluated = _coco_eval(images, annotations, detections, sigma)
    if evaluated is None:
        ap = ap50 = ap75 = ar = 0.0
    else:
        precision, recall = evaluated
        ap, ap50, ap75, ar = float(precision.mean()), float(precision[0].mean()), float(precision[5].mean()), float(recall.mean())
    per_keypoint: dict[str, float | None] = {}
    for j, name in enumerate(keypoint_names):
        only = [_only_keypoint(a, j) for a in annotations]
        if not any(a["num_keypoints"] for a in only):
            per_keypoint[str(name)] = None
            continue
        one = _coco_eval(images, only, detections, sigma)
        per_keypoint[str(name)] = float(one[0].mean()) if one is not None else 0.0
    return {
        "oks_ap": ap,
        "oks_ap50": ap50,
        "oks_ap75": ap75,
        "oks_ar": ar,
        "per_keypoint_ap": per_keypoint,
        "images": len(images),
        "instances": sum(1 for a in annotations if a["num_keypoints"] > 0),
        "detections": len(detections),
    }


def _only_keypoint(annotation: dict[str, Any], j: int) -> dict[str, Any]:
    """The annotation with every keypoint but ``j`` unlabeled."""
    flat = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
    kept = np.zeros_like(flat)
    kept[j] = flat[j]
    return {**annotation, "keypoints": [float(v) for v in kept.reshape(-1)], "num_keypoints": int(flat[j, 2] > 0)}


def oks(truth: np.ndarray, predicted: np.ndarray, area: float, sigmas: Sequence[float]) -> float:
    """COCO's object keypoint similarity of one prediction ``(K, 2+)`` to one instance ``(K, 3)``
    (``x, y, v``; only ``v > 0`` counts), for reading and checking the metric."""
    truth = np.asarray(truth, np.float64).reshape(-1, 3)
    predicted = np.asarray(predicted, np.float64).reshape(len(truth), -1)
    labeled = truth[:, 2] > 0
    if not labeled.any():
        return 0.0
    d2 = ((predicted[:, :2] - truth[:, :2]) ** 2).sum(axis=1)
    variance = (2 * np.asarray(sigmas, np.float64)) ** 2
    return float(np.exp(-d2 / (2 * area * variance))[labeled].mean())


# --- figures --------------------------------------------------------------------------------------


def plot_metrics(metrics: dict[str, Any], keypoint_names: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
    """``per_keypoint_ap.png``: OKS AP with each keypoint alone, and the overall AP as a line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    per_keypoint = metrics.get("per_keypoint_ap") or {}
    names = [str(n) for n in keypoint_names] or list(per_keypoint)
    figure = Figure(figsize=(6, max(2.5, 0.35 * len(names) + 1.2)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    ys = np.arange(len(names))
    axes.barh(ys, [per_keypoint.get(n) or 0.0 for n in names], height=0.6, color="#1f77b4")
    overall = float(metrics.get("oks_ap") or 0.0)
    axes.axvline(overall, color="#d62728", linestyle="--", linewidth=1, label=f"all keypoints {overall:.3f}")
    for y, name in zip(ys, names):
        if per_keypoint.get(name) is None:
            axes.text(0.01, y, "no ground truth", va="center", fontsize=8, color="#666666")
    axes.set_yticks(ys, names)
    axes.invert_yaxis()
    axes.set(xlim=(0, 1), xlabel="OKS AP@[.5:.95]")
    axes.set_title("OKS AP per keypoint")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path = folder / "per_keypoint_ap.png"
    figure.savefig(path)
    return [("per_keypoint_ap", path)]


def draw_keypoints(
    image: np.ndarray,
    outputs: dict[str, np.ndarray],
    labels: Sequence[str],
    *,
    skeleton: Sequence[tuple[int, int]] = (),
    score_threshold: float = 0.05,
    keypoint_threshold: float = 0.1,
) -> np.ndarray:
    """``image`` (uint8 RGB, the model input) with the first ``count`` instances of one image
    (outputs without the batch axis) drawn: box, score, skeleton lines and keypoint dots (those
    with a score >= ``keypoint_threshold``)."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    height, width = image.shape[:2]
    boxes = np.asarray(outputs["boxes"], np.float64).reshape(-1, 4)
    scores = np.asarray(outputs["scores"], np.float64).reshape(-1)
    points = np.asarray(outputs["keypoints"], np.float64).reshape(len(scores), -1, 3)
    count = int(np.asarray(outputs.get("count", (scores >= score_threshold).sum())).reshape(-1)[0])
    line = max(1, round(min(height, width) / 160))
    dot = max(1.5, min(height, width) / 80)
    name = labels[0] if labels else ""
    for n, (box, score, kps) in enumerate(list(zip(boxes, scores, points))[:count]):
        if score < score_threshold:
            continue
        colour = PALETTE[n % len(PALETTE)]
        y0, y1 = sorted((box[0] * height, box[2] * height))
        x0, x1 = sorted((box[1] * width, box[3] * width))
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        draw.text((x0 + 2, y0), f"{name} {score:.2f}", fill=colour, font=font)
        xy = [(float(p[0] * width), float(p[1] * height)) for p in kps]
        shown = [bool(p[2] >= keypoint_threshold) for p in kps]
        for a, b in skeleton:
            if 0 <= a < len(xy) and 0 <= b < len(xy) and shown[a] and shown[b]:
                draw.line([xy[a], xy[b]], fill=colour, width=line)
        for (px, py), visible in zip(xy, shown):
            if visible:
                draw.ellipse([px - dot, py - dot, px + dot, py + dot], fill=(255, 255, 255), outline=colour)
    return np.asarray(canvas, dtype=np.uint8)
