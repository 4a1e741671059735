"""The keypoints task: multi-instance pose with a CenterNet-style model on MobileNetV3, shipped as
``.tflite``.

The detector's family (:mod:`training.worker.detect`): the same backbone, neck, centre heatmap,
focal loss and in-graph peak decode, for one instance class, plus each instance's keypoints. One
module per concern (this one imports neither TensorFlow nor Keras at its top, so ``check`` and the
registry cost nothing to import):

* :mod:`training.worker.keypoints_model` — the Keras models, the in-graph decode and the losses;
* :mod:`training.worker.keypoints_metrics` — COCO OKS evaluation (pycocotools), plots and drawing;
* here — the task (:class:`KeypointsTask`), its options and the training targets.

**Spec.** ``spec.labels`` is the one instance class; ``options["keypoint_names"]`` the K keypoint
names in order, ``options["sigmas"]`` their K COCO OKS sigmas (COCO's scale: 0.025 for an eye,
0.107 for a hip), ``options["skeleton"]`` a list of ``[i, j]`` index pairs to draw (may be empty).
Every box of an item is an instance; its keypoints arrive as ``Sample.keypoints`` ``(N, K, 3)``
in input pixels with the COCO visibility (0: unlabeled or outside the picture). Horizontal flips
and the left/right swap they need happen in the augmentation, before :meth:`KeypointsTask.targets`.

**Targets** (:func:`make_targets`), for an ``S x S`` sample and ``G = S / output_stride``; an
instance counts when its box has an area and its centre lies inside the input:

* ``heatmap`` ``(G, G, 1)``, ``size`` ``(G, G, 3)``, ``offset`` ``(G, G, 3)``: the detector's
  (:func:`training.worker.detect.make_targets`, one class): a Gaussian of the CenterNet radius at
  each centre cell (exactly 1.0 there), the box ``w, h`` in cells and the centre's sub-cell
  ``dx, dy``, the centre mask as the last channel;
* ``kp_offset`` ``(G, G, 3K)``: at the centre cell ``(col, row)``, ``x_k / stride - col`` and
  ``y_k / stride - row`` for each keypoint (``dx1, dy1, ..., dxK, dyK``), then K masks, 1 for the
  keypoints with visibility > 0 (hidden points are labeled: COCO counts them too);
* ``kp_heatmap`` ``(G, G, K)``: per keypoint type, a Gaussian at each labeled keypoint's cell
  with its instance's radius, overlapping ones merged by max, exactly 1.0 at the cell.

Two instances whose centres share a cell keep the larger box's size, offset and keypoint offsets
(the detector's rule); both instances' keypoints stay in ``kp_heatmap``.

**Loss** (:func:`training.worker.keypoints_model.compile_model`): focal loss on ``heatmap`` and on
``kp_heatmap`` (each divided by its number of peaks), 0.1 x L1 on ``size``, L1 on ``offset`` (both
at centres, divided by the number of instances), L1 on ``kp_offset`` at labeled keypoints only,
divided by their number.

**Export outputs** (decoded in the graph, TFLite builtins only, every output float32 in the int8
file too; :meth:`KeypointsTask.output_layout`): ``boxes`` ``(B, M, 4)`` ``[ymin, xmin, ymax,
xmax]`` normalised 0..1, ``scores`` ``(B, M)`` descending, ``keypoints`` ``(B, M, K, 3)``
``x, y`` normalised 0..1 and a score 0..1, ``count`` ``(B,)`` int32.

Options (``spec.options``): the three above, and the detector's ``alpha`` (1.0), ``minimalistic``
(False), ``bn_momentum`` ("auto"), ``output_stride`` (4), ``neck_channels`` (64 small / 96 large),
``max_detections`` (M, 20: COCO's keypoint evaluation counts 20 per image), ``score_threshold``
(0.05), plus ``keypoint_threshold`` (0.1, the score from which a keypoint is drawn, and from which a
heatmap peak may take a keypoint) and ``keypoint_refine`` (True: each keypoint regressed from the centre
moves to the highest cell of its own heatmap within 3 cells, as in CenterNet's multi-pose
decode; the regression alone is coarse).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec
from training.worker.detect import (
    OUTPUT_STRIDES,
    backbone_problem,
    draw_gaussian,
    gaussian_radius,
)
from training.worker.detect import make_targets as detect_targets
from training.worker.task_api import Predict, Sample

REFINE_RADIUS = 3  # cells around a regressed keypoint searched for its heatmap's highest cell

# Every output of the int8 file stays float32 (only its input is int8): pass to export_model.
FLOAT_OUTPUTS = ("boxes", "scores", "keypoints", "count")


@dataclass(frozen=True)
class KeypointsConfig:
    architecture: str
    input_size: int
    keypoint_names: tuple[str, ...]
    sigmas: tuple[float, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    alpha: float = 1.0
    minimalistic: bool = False
    bn_momentum: float = 0.9
    output_stride: int = 4
    neck_channels: int = 64
    max_detections: int = 20
    score_threshold: float = 0.05
    keypoint_threshold: float = 0.1
    refine: bool = True

    @classmethod
    def from_spec(cls, spec: RunSpec) -> KeypointsConfig:
        options = spec.options or {}
        neck = 96 if spec.architecture == "mobilenet_v3_large" else 64
        return cls(
            architecture=spec.architecture,
            input_size=int(spec.input_size),
            keypoint_names=tuple(str(n) for n in options.get("keypoint_names") or ()),
            sigmas=tuple(float(s) for s in options.get("sigmas") or ()),
            skeleton=tuple((int(a), int(b)) for a, b in options.get("skeleton") or ()),
            alpha=float(options.get("alpha", 1.0)),
            minimalistic=bool(options.get("minimalistic", False)),
            # "auto" (the default): the run loop sets the momentum from the run's length after build.
            bn_momentum=0.9 if options.get("bn_momentum", "auto") == "auto" else float(options["bn_momentum"]),
            output_stride=int(options.get("output_stride", 4)),
            neck_channels=int(options.get("neck_channels", neck)),
            max_detections=int(options.get("max_detections", 20)),
            score_threshold=float(options.get("score_threshold", 0.05)),
            keypoint_threshold=float(options.get("keypoint_threshold", 0.1)),
            refine=bool(options.get("keypoint_refine", True)),
        )

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def grid(self) -> int:
        return self.input_size // self.output_stride

    @property
    def detections(self) -> int:
        """M: ``max_detections`` capped by the number of heatmap cells (top_k needs that many)."""
        return min(self.max_detections, self.grid * self.grid)


class KeypointsTask:
    """:class:`training.worker.task_api.TrainingTask` for multi-instance keypoints (pose).

    ``targets``, ``evaluate`` and ``draw`` need the spec's geometry and keypoint definitions:
    :meth:`build` (or :meth:`configure`) records them on the instance, so the run loop calls
    ``build`` before asking for targets or metrics.
    """

    name = "keypoints"
    headline = "oks_ap"
    float_outputs = FLOAT_OUTPUTS
    # The decode adds regressed displacements to cell indices and compares heatmap values: in int8,
    # with one scale per tensor, every step of that loses about a pixel, so it runs in float32
    # inside the int8 file (the backbone, neck and heads stay int8).
    float_layers = ("decode",)

    def __init__(self, spec: RunSpec | None = None) -> None:
        self.config: KeypointsConfig | None = None
        if spec is not None:
            self.configure(spec)

    def configure(self, spec: RunSpec) -> KeypointsConfig:
        self.config = KeypointsConfig.from_spec(spec)
        return self.config

    # --- TrainingTask --------------------------------------------------------------------------

    def check(self, spec: RunSpec) -> str | None:
        problem = backbone_problem(
            spec, model="The keypoint model", task="keypoints",
            why=", because the feature pyramid only lines up when the size divides by 32.",
        )
        if problem:
            return problem
        if len(spec.labels) != 1:
            return (
                f"Keypoint training needs exactly one instance class (the skeleton's), got {len(spec.labels)} labels."
            )
        options = spec.options or {}
        names = options.get("keypoint_names")
        if not isinstance(names, list | tuple) or not names:
            return "options.keypoint_names must list the keypoint names in order (at least one)."
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            return "options.keypoint_names must be distinct, non-empty names."
        sigmas = options.get("sigmas")
        if not isinstance(sigmas, list | tuple) or len(sigmas) != len(names):
            count = len(sigmas) if isinstance(sigmas, list | tuple) else 0
            return f"options.sigmas must give one OKS sigma per keypoint: {len(names)} keypoints, {count} sigmas."
        if any(isinstance(s, bool) or not isinstance(s, int | float) or not 0 < s < 10 for s in sigmas):
            return "Every OKS sigma in options.sigmas must be a positive number (COCO's scale, e.g. 0.025 to 0.107)."
        skeleton = options.get("skeleton") or []
        if not isinstance(skeleton, list | tuple):
            return "options.skeleton must be a list of [i, j] keypoint index pairs."
        for pair in skeleton:
            if (
                not isinstance(pair, list | tuple)
                or len(pair) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(names) for i in pair)
            ):
                return f"Skeleton edge {pair!r} is not a pair of keypoint indices between 0 and {len(names) - 1}."
        try:
            config = KeypointsConfig.from_spec(spec)
        except (TypeError, ValueError) as exc:
            return f"A keypoint option has the wrong type: {exc}."
        if config.output_stride not in OUTPUT_STRIDES:
            return f"output_stride must be one of {list(OUTPUT_STRIDES)}, got {options.get('output_stride')!r}."
        if not config.alpha > 0:
            return f"alpha must be positive, got {config.alpha}."
        if not 1 <= config.max_detections <= 1000:
            return f"max_detections must be between 1 and 1000, got {config.max_detections}."
        if not 0.0 <= config.score_threshold < 1.0:
            return f"score_threshold must be in [0, 1), got {config.score_threshold}."
        if not 0.0 <= config.keypoint_threshold < 1.0:
            return f"keypoint_threshold must be in [0, 1), got {config.keypoint_threshold}."
        if config.neck_channels < 8:
            return f"neck_channels must be at least 8, got {config.neck_channels}."
        width = 3 * len(names)
        for item in spec.items:
            rows = item.keypoints or []
            if rows and (len(rows) != len(item.boxes or []) or any(len(row) != width for row in rows)):
                return (
                    f"The keypoints of {Path(item.path).name} do not fit the spec: one row of {width} values "
                    f"([x, y, v] for each of the {len(names)} keypoints) is needed per box."
                )
        train = [item for item in spec.items if item.split == "train"]
        if spec.items and not any(item.boxes and item.keypoints for item in train):
            return "No training image has an instance with keypoints: a keypoint model cannot learn without them."
        return None

    def build(self, spec: RunSpec) -> tuple[Any, Any]:
        config = self.configure(spec)
        from training.worker.keypoints_model import PoseModelConfig, build_models

        return build_models(
            PoseModelConfig(
                architecture=config.architecture,
                input_size=config.input_size,
                num_keypoints=config.num_keypoints,
                alpha=config.alpha,
                minimalistic=config.minimalistic,
                output_stride=config.output_stride,
                neck_channels=config.neck_channels,
                bn_momentum=config.bn_momentum,
                max_detections=config.max_detections,
                score_threshold=config.score_threshold,
                refine=config.refine,
                refine_threshold=config.keypoint_threshold,
            )
        )

    def targets(self, sample: Sample) -> dict[str, np.ndarray]:
        config = self._config()
        return make_targets(
            sample.boxes,
            sample_keypoints(sample, config.num_keypoints),
            input_size=sample.image.shape[0],
            stride=config.output_stride,
            num_keypoints=config.num_keypoints,
        )

    def compile(self, model: Any, optimizer: Any) -> None:
        from training.worker.keypoints_model import compile_model

        compile_model(model, optimizer)

    def class_weights(self, items: Sequence[RunItem], num_classes: int) -> dict[int, float] | None:
        return None  # one instance class; the focal losses handle foreground/background imbalance

    def evaluate(self, predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
        from training.worker.keypoints_metrics import evaluate_keypoints

        config = self._config()
        return evaluate_keypoints(predict, samples, config.keypoint_names, config.sigmas)

    def plots(self, metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
        from training.worker.keypoints_metrics import plot_metrics

        names = self.config.keypoint_names if self.config else tuple(metrics.get("per_keypoint_ap") or ())
        return plot_metrics(metrics, names, Path(folder))

    def draw(self, sample: Sample, outputs: dict[str, np.ndarray], labels: Sequence[str]) -> np.ndarray:
        from training.worker.keypoints_metrics import draw_keypoints

        config = self.config
        return draw_keypoints(
            sample.image,
            outputs,
            labels,
            skeleton=config.skeleton if config else (),
            score_threshold=config.score_threshold if config else 0.05,
            keypoint_threshold=config.keypoint_threshold if config else 0.1,
        )

    def output_layout(self, spec: RunSpec) -> dict[str, Any]:
        config = KeypointsConfig.from_spec(spec)
        m, k, size = config.detections, config.num_keypoints, config.input_size
        return {
            "task": "keypoints",
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
                    "shape": [-1, m, 4],
                    "dtype": "float32",
                    "meaning": "each instance's box [ymin, xmin, ymax, xmax] normalised 0..1 to the model input "
                    "(multiply by the input size, then undo the letterbox to reach the original image), in score order",
                },
                {
                    "name": "scores",
                    "shape": [-1, m],
                    "dtype": "float32",
                    "meaning": "instance confidence 0..1 (the centre heatmap at its peak), descending",
                },
                {
                    "name": "keypoints",
                    "shape": [-1, m, k, 3],
                    "dtype": "float32",
                    "meaning": "per instance, per keypoint (in keypoint_names order): x, y normalised 0..1 to the "
                    "model input like the boxes, and the keypoint's score 0..1 (its heatmap at that point)",
                },
                {
                    "name": "count",
                    "shape": [-1],
                    "dtype": "int32",
                    "meaning": f"how many instances have score >= {config.score_threshold}: the first count entries "
                    "of boxes/scores/keypoints are the instances, the rest is padding",
                },
            ],
            "box_format": "yxyx_normalized",
            "keypoint_format": "xy_normalized_score",
            "keypoint_names": list(config.keypoint_names),
            "skeleton": [list(pair) for pair in config.skeleton],
            "sigmas": list(config.sigmas),
            "max_detections": m,
            "score_threshold": config.score_threshold,
            "keypoint_threshold": config.keypoint_threshold,
            "keypoint_refine": config.refine,
            "output_stride": config.output_stride,
            "decode": "in the graph: 3x3 max-pool peak extraction on the centre heatmap (no separate NMS), "
            "top-k over cells, box size and offset and keypoint displacements gathered at each peak"
            + (", each displaced keypoint moved to the highest cell of its own heatmap within "
               f"{REFINE_RADIUS} cells when it scores >= {config.keypoint_threshold}" if config.refine else "")
            + ", each keypoint's score read from its own heatmap where the point falls",
            "float_outputs": list(FLOAT_OUTPUTS),
            "int8_float_ops": "the decode runs in float32 inside the int8 file (its input, the heads, is "
            "dequantized once); backbone, neck and heads are int8",
        }

    def _config(self) -> KeypointsConfig:
        if self.config is None:
            raise RuntimeError("KeypointsTask.build(spec) (or configure(spec)) must run before targets or metrics.")
        return self.config


# --- targets ----------------------------------------------------------------------------------------


def sample_keypoints(sample: Sample, count: int) -> np.ndarray:
    """``sample.keypoints`` as float32 ``(N, count, 3)`` for its N boxes (all zeros, i.e.
    unlabeled, when the sample has none)."""
    boxes = np.asarray(sample.boxes).reshape(-1, 4)
    points = np.asarray(sample.keypoints, np.float32)
    if points.size == 0 or points.ndim != 3 or points.shape[1] != count or len(points) != len(boxes):
        if points.size:
            raise ValueError(
                f"A sample has keypoints of shape {points.shape} for {len(boxes)} boxes and {count} keypoints."
            )
        return np.zeros((len(boxes), count, 3), np.float32)
    return points


def make_targets(
    boxes: np.ndarray, keypoints: np.ndarray, *, input_size: int, stride: int, num_keypoints: int
) -> dict[str, np.ndarray]:
    """The train model's targets for boxes ``(N, 4)`` ``x, y, w, h`` and keypoints ``(N, K, 3)``
    in input pixels (see the module doc for the layout)."""
    grid = input_size // stride
    k = num_keypoints
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    keypoints = np.asarray(keypoints, np.float32).reshape(len(boxes), k, 3)
    out = detect_targets(boxes, np.zeros(len(boxes), np.int32), input_size=input_size, stride=stride, num_classes=1)
    kp_offset = np.zeros((grid, grid, 3 * k), np.float32)
    kp_heatmap = np.zeros((grid, grid, k), np.float32)
    peaks: list[tuple[int, int, int]] = []
    # Small boxes first, as in the detector: the larger instance's offsets win a shared cell.
    order = np.argsort(boxes[:, 2] * boxes[:, 3], kind="stable")
    for i in order:
        x, y, w, h = (float(v) for v in boxes[i])
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x + w / 2) / stride, (y + h / 2) / stride
        if not (0 <= cx < grid and 0 <= cy < grid):
            continue
        col, row = int(cx), int(cy)
        radius = max(0, int(gaussian_radius(math.ceil(h / stride), math.ceil(w / stride))))
        cell = np.zeros(3 * k, np.float32)
        for j, (px, py, visibility) in enumerate(keypoints[i]):
            if visibility <= 0:
                continue
            kx, ky = float(px) / stride, float(py) / stride
            cell[2 * j : 2 * j + 2] = (kx - col, ky - row)
            cell[2 * k + j] = 1.0
            kcol, krow = min(max(int(math.floor(kx)), 0), grid - 1), min(max(int(math.floor(ky)), 0), grid - 1)
            draw_gaussian(kp_heatmap[:, :, j], kcol, krow, radius)
            peaks.append((krow, kcol, j))
        kp_offset[row, col] = cell
    for krow, kcol, j in peaks:
        kp_heatmap[krow, kcol, j] = 1.0
    return {**out, "kp_offset": kp_offset, "kp_heatmap": kp_heatmap}
