"""The detection task: a CenterNet-style anchor-free detector on MobileNetV3, shipped as ``.tflite``.

One module per concern (this one imports neither TensorFlow nor Keras at its top, so ``check``
and the registry cost nothing to import):

* :mod:`training.worker.detect_model` — the Keras models (backbone, neck, heads, in-graph decode)
  and the losses;
* :mod:`training.worker.detect_metrics` — COCO evaluation (pycocotools), plots and drawing;
* here — the task itself (:class:`DetectTask`), its options and the training targets.

**Model.** MobileNetV3 Small/Large (``weights=None``, ``alpha``/``minimalistic`` from the options)
-> stride-32/16/8 block outputs fused top-down (upsample x2 + add + depthwise-separable conv) to
one map at **stride 4** (option ``output_stride``: 4 or 8) -> three heads: class-centre
``heatmap`` (sigmoid), box ``size`` (w, h in output cells) and sub-pixel ``offset`` (dx, dy in
cells). See :mod:`training.worker.detect_model` for channels and layer names.

**Targets** (:meth:`DetectTask.targets`), for an ``S x S`` sample and ``G = S / output_stride``:

* ``heatmap`` float32 ``(G, G, C)``: per class, a Gaussian at each object's centre cell with the
  CenterNet radius (``gaussian_radius`` of the box in cells, min IoU 0.7; sigma = (2r + 1) / 6),
  overlapping objects merged by max; exactly 1.0 at each centre cell;
* ``size`` float32 ``(G, G, 3)``: ``w, h`` of the box in output cells, and the centre mask;
* ``offset`` float32 ``(G, G, 3)``: ``dx, dy`` = centre / stride - centre cell (0..1), and the mask.

The mask (1 at object centres, 0 elsewhere) travels as the last channel so each L1 loss sees it.
Two objects whose centres share a cell keep the larger box's size (the heatmap keeps both classes).

**Loss** (:func:`training.worker.detect_model.compile_model`): CenterNet focal loss on the heatmap
(penalty-reduced, alpha 2, beta 4, divided by the number of objects) + 0.1 x L1 on size + 1 x L1
on offset, both at object centres only and divided by the number of objects.

**Class weights**: None. The focal loss already handles the imbalance that matters here (a handful
of positive cells against thousands of background ones) and is normalised by the number of
objects; per-class weights on top of it would have no per-sample target to attach to.

**Export outputs** (the export model; all TFLite builtins, decode in the graph; see
:meth:`DetectTask.output_layout`): ``boxes`` ``(B, K, 4)`` float32 ``[ymin, xmin, ymax, xmax]``
normalised 0..1, ``classes`` ``(B, K)`` int32, ``scores`` ``(B, K)`` float32 descending,
``count`` ``(B,)`` int32 = detections with ``score >= score_threshold``. Boxes and scores are
separate outputs (one tensor with coordinates and probabilities would share one int8 scale), and
the int8 file keeps every output float32 (:data:`FLOAT_OUTPUTS` for ``export_model``).

Options (``spec.options``): ``alpha`` (1.0), ``minimalistic`` (False), ``bn_momentum`` (0.9),
``output_stride`` (4), ``neck_channels`` (64 small / 96 large), ``max_detections`` (100),
``score_threshold`` (0.05).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec
from training.worker.task_api import Predict, Sample

ARCHITECTURES = ("mobilenet_v3_small", "mobilenet_v3_large")
MIN_INPUT, MAX_INPUT = 64, 1024
OUTPUT_STRIDES = (4, 8)


def backbone_problem(spec: RunSpec, *, model: str, task: str, why: str) -> str | None:
    """What rules the run out for the MobileNetV3 pyramid that detection, keypoints and segmentation
    share (architecture, input size), in the task's words: ``model`` names it ("The detector"),
    ``task`` the task ("detection"), ``why`` ends the input-size sentence; None when it fits."""
    if spec.architecture not in ARCHITECTURES:
        return (
            f"{model} is built on {' or '.join(ARCHITECTURES)}; "
            f"architecture {spec.architecture!r} is not available for {task}."
        )
    size = spec.input_size
    if not isinstance(size, int) or size % 32 or not MIN_INPUT <= size <= MAX_INPUT:
        return (
            f"Input size {size} does not work for {task}: it must be a multiple of 32 between "
            f"{MIN_INPUT} and {MAX_INPUT}{why}"
        )
    return None


# Every output of the int8 file stays float32 (only its input is int8): pass to export_model.
FLOAT_OUTPUTS = ("boxes", "classes", "scores", "count")


@dataclass(frozen=True)
class DetectConfig:
    architecture: str
    input_size: int
    num_classes: int
    alpha: float = 1.0
    minimalistic: bool = False
    bn_momentum: float = 0.9
    output_stride: int = 4
    neck_channels: int = 64
    max_detections: int = 100
    score_threshold: float = 0.05

    @classmethod
    def from_spec(cls, spec: RunSpec) -> DetectConfig:
        options = spec.options or {}
        neck = 96 if spec.architecture == "mobilenet_v3_large" else 64
        return cls(
            architecture=spec.architecture,
            input_size=int(spec.input_size),
            num_classes=len(spec.labels),
            alpha=float(options.get("alpha", 1.0)),
            minimalistic=bool(options.get("minimalistic", False)),
            # "auto" (the default): the run loop sets the momentum from the run's length after build.
            bn_momentum=0.9 if options.get("bn_momentum", "auto") == "auto" else float(options["bn_momentum"]),
            output_stride=int(options.get("output_stride", 4)),
            neck_channels=int(options.get("neck_channels", neck)),
            max_detections=int(options.get("max_detections", 100)),
            score_threshold=float(options.get("score_threshold", 0.05)),
        )

    @property
    def grid(self) -> int:
        return self.input_size // self.output_stride

    @property
    def detections(self) -> int:
        """K: ``max_detections`` capped by the heatmap's number of entries (top_k needs that many)."""
        return min(self.max_detections, self.grid * self.grid * self.num_classes)


class DetectTask:
    """:class:`training.worker.task_api.TrainingTask` for object detection (boxes).

    ``targets`` and ``draw`` need the spec's geometry: :meth:`build` (or :meth:`configure`)
    records it on the instance, so the run loop calls ``build`` before asking for targets.
    """

    name = "detect"
    headline = "map50"
    float_outputs = FLOAT_OUTPUTS

    def __init__(self, spec: RunSpec | None = None) -> None:
        self.config: DetectConfig | None = None
        if spec is not None:
            self.configure(spec)

    def configure(self, spec: RunSpec) -> DetectConfig:
        self.config = DetectConfig.from_spec(spec)
        return self.config

    # --- TrainingTask --------------------------------------------------------------------------

    def check(self, spec: RunSpec) -> str | None:
        problem = backbone_problem(
            spec, model="The detector", task="detection",
            why=". The feature pyramid upsamples the stride-32 map x2 onto the stride-16 and stride-8 maps, which "
            "only line up when the size divides by 32; below 64 the stride-32 map is a single cell, and above 1024 "
            "the heatmap and top-k no longer fit a phone.",
        )
        if problem:
            return problem
        if not spec.labels:
            return "Detection needs at least one class."
        options = spec.options or {}
        try:
            config = DetectConfig.from_spec(spec)
        except (TypeError, ValueError) as exc:
            return f"A detection option has the wrong type: {exc}."
        if config.output_stride not in OUTPUT_STRIDES:
            return f"output_stride must be one of {list(OUTPUT_STRIDES)}, got {options.get('output_stride')!r}."
        if not config.alpha > 0:
            return f"alpha must be positive, got {config.alpha}."
        if not 1 <= config.max_detections <= 1000:
            return f"max_detections must be between 1 and 1000, got {config.max_detections}."
        if not 0.0 <= config.score_threshold < 1.0:
            return f"score_threshold must be in [0, 1), got {config.score_threshold}."
        if config.neck_channels < 8:
            return f"neck_channels must be at least 8, got {config.neck_channels}."
        train = [item for item in spec.items if item.split == "train"]
        if spec.items and not any(item.boxes for item in train):
            return "No training image has a box: a detector cannot learn without objects."
        return None

    def build(self, spec: RunSpec) -> tuple[Any, Any]:
        config = self.configure(spec)
        from training.worker.detect_model import ModelConfig, build_models

        return build_models(ModelConfig(**_model_fields(config)))

    def targets(self, sample: Sample) -> dict[str, np.ndarray]:
        config = self._config()
        return make_targets(
            sample.boxes,
            sample.classes,
            input_size=sample.image.shape[0],
            stride=config.output_stride,
            num_classes=config.num_classes,
        )

    def compile(self, model: Any, optimizer: Any) -> None:
        from training.worker.detect_model import compile_model

        compile_model(model, optimizer)

    def class_weights(self, items: Sequence[RunItem], num_classes: int) -> dict[int, float] | None:
        return None  # the focal loss handles foreground/background imbalance (see the module doc)

    def evaluate(self, predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
        from training.worker.detect_metrics import evaluate_detections

        return evaluate_detections(predict, samples, labels)

    def plots(self, metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
        from training.worker.detect_metrics import plot_metrics

        return plot_metrics(metrics, labels, Path(folder))

    def draw(self, sample: Sample, outputs: dict[str, np.ndarray], labels: Sequence[str]) -> np.ndarray:
        from training.worker.detect_metrics import draw_detections

        threshold = self.config.score_threshold if self.config else 0.05
        return draw_detections(sample.image, outputs, labels, score_threshold=threshold)

    def output_layout(self, spec: RunSpec) -> dict[str, Any]:
        config = DetectConfig.from_spec(spec)
        k, size = config.detections, config.input_size
        return {
            "task": "detect",
            "input": {
                "name": "image",
                "shape": [-1, size, size, 3],
                "dtype": "float32 (int8 in the full-integer file, scale 1, zero point -128)",
                "meaning": f"RGB 0..255, {size}x{size}, resized as the version says (stretch or letterbox); "
                "the model rescales inside",
            },
            "outputs": [
                {
                    "name": "boxes",
                    "shape": [-1, k, 4],
                    "dtype": "float32",
                    "meaning": "[ymin, xmin, ymax, xmax] normalised 0..1 to the model input (multiply by the "
                    "input size, then undo the letterbox to reach the original image), in score order",
                },
                {"name": "classes", "shape": [-1, k], "dtype": "int32", "meaning": "class index into labels"},
                {
                    "name": "scores",
                    "shape": [-1, k],
                    "dtype": "float32",
                    "meaning": "confidence 0..1 (the class heatmap at the box centre), descending",
                },
                {
                    "name": "count",
                    "shape": [-1],
                    "dtype": "int32",
                    "meaning": f"how many detections have score >= {config.score_threshold}: the first count "
                    "entries of boxes/classes/scores are the detections, the rest is padding",
                },
            ],
            "box_format": "yxyx_normalized",
            "max_detections": k,
            "score_threshold": config.score_threshold,
            "output_stride": config.output_stride,
            "decode": "in the graph: 3x3 max-pool peak extraction on the class heatmaps (no separate NMS), "
            "top-k over cells and classes, size and offset gathered at each peak",
            "float_outputs": list(FLOAT_OUTPUTS),
        }

    def _config(self) -> DetectConfig:
        if self.config is None:
            raise RuntimeError("DetectTask.build(spec) (or configure(spec)) must run before targets are made.")
        return self.config


def _model_fields(config: DetectConfig) -> dict[str, Any]:
    return {
        "architecture": config.architecture,
        "input_size": config.input_size,
        "num_classes": config.num_classes,
        "alpha": config.alpha,
        "minimalistic": config.minimalistic,
        "output_stride": config.output_stride,
        "neck_channels": config.neck_channels,
        "bn_momentum": config.bn_momentum,
        "max_detections": config.max_detections,
        "score_threshold": config.score_threshold,
    }


# --- targets ----------------------------------------------------------------------------------------


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius (``gaussian_radius`` of the reference code, kept as published, quirks
    included): how far a corner may move while the box keeps IoU >= ``min_overlap`` with the truth."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(max(b1**2 - 4 * c1, 0.0))) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(max(b2**2 - 16 * c2, 0.0))) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(max(b3**2 - 4 * a3 * c3, 0.0))) / 2
    return min(r1, r2, r3)


def draw_gaussian(heatmap: np.ndarray, cx: int, cy: int, radius: int) -> None:
    """Max a 2D Gaussian of ``radius`` (sigma = (2r + 1) / 6) centred on cell ``(cx, cy)`` into ``heatmap``."""
    diameter = 2 * radius + 1
    sigma = diameter / 6.0
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    gaussian = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma)).astype(np.float32)
    height, width = heatmap.shape
    left, right = min(cx, radius), min(width - cx, radius + 1)
    top, bottom = min(cy, radius), min(height - cy, radius + 1)
    region = heatmap[cy - top : cy + bottom, cx - left : cx + right]
    patch = gaussian[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch, out=region)


def make_targets(
    boxes: np.ndarray, classes: np.ndarray, *, input_size: int, stride: int, num_classes: int
) -> dict[str, np.ndarray]:
    """The train model's targets for boxes ``(N, 4)`` ``x, y, w, h`` in input pixels (see the module
    doc for the layout). Boxes with no area, or whose centre lies outside the input, are skipped."""
    grid = input_size // stride
    heatmap = np.zeros((grid, grid, num_classes), np.float32)
    size = np.zeros((grid, grid, 3), np.float32)
    offset = np.zeros((grid, grid, 3), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes).reshape(-1)
    # Small boxes first: where two centres share a cell, the larger box is written last and its
    # size is the one kept (the documented tie rule).
    order = np.argsort(boxes[:, 2] * boxes[:, 3], kind="stable")
    for i in order:
        x, y, w, h = (float(v) for v in boxes[i])
        label = int(classes[i])
        if w <= 0 or h <= 0 or not 0 <= label < num_classes:
            continue
        cx, cy = (x + w / 2) / stride, (y + h / 2) / stride
        if not (0 <= cx < grid and 0 <= cy < grid):
            continue
        col, row = int(cx), int(cy)
        w_cells, h_cells = w / stride, h / stride
        radius = max(0, int(gaussian_radius(math.ceil(h_cells), math.ceil(w_cells))))
        draw_gaussian(heatmap[:, :, label], col, row, radius)
        heatmap[row, col, label] = 1.0
        size[row, col] = (w_cells, h_cells, 1.0)
        offset[row, col] = (cx - col, cy - row, 1.0)
    return {"heatmap": heatmap, "size": size, "offset": offset}
