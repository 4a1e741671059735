"""The pose model's Keras side: the detector's backbone and neck with two more heads, the in-graph
decode of the export model, and the keypoint losses.

Imported by :mod:`training.worker.keypoints` only inside ``build``/``compile`` (this module imports
Keras at its top). Importing it registers the custom layer and losses (package
``lensforge.keypoints``; the detector's, ``lensforge.detect``, come with it), which
``keras.models.load_model`` needs to read a checkpoint or ``model.keras`` back.

**Architecture** (input ``S x S`` RGB 0..255, ``S`` a multiple of 32): exactly the detector's
(:mod:`training.worker.detect_model`: ``Rescaling`` to -1..1, MobileNetV3 without its top, the
top-down neck to the output stride), one instance class, and five heads, each a depthwise-separable
3x3 conv (BN, ReLU) and a 1x1 conv:

* ``heatmap`` (1 channel, sigmoid, prior bias -2.19): instance centres;
* ``size`` (2: w, h of the instance's box in output cells) and ``offset`` (2: dx, dy of the centre
  inside its cell), linear;
* ``kp_offset`` (2K: ``dx1, dy1, ..., dxK, dyK``, each keypoint's displacement from the centre
  *cell* ``(col, row)``, in cells), linear;
* ``kp_heatmap`` (K channels, sigmoid, prior bias -2.19): a Gaussian per keypoint type, the
  keypoint's score.

**Export model** (same layers): :class:`PoseDecode`, TFLite builtins only (the detector's peak
extraction: MAX_POOL_2D, EQUAL, SELECT_V2, TOPK_V2, then GATHER through ``take_along_axis``, FLOOR,
CAST, arithmetic and clipping). The ``M`` best centre peaks give the instances; each instance's
keypoints are its cell plus the gathered ``kp_offset``, and each keypoint's score is ``kp_heatmap``
of its own type at the cell the regressed point falls in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from training.worker.detect_model import (
    HEATMAP_PRIOR_BIAS,
    CenterNetFocalLoss,
    MaskedL1Loss,
    ModelConfig,
    backbone,
    local_peaks,
    prediction_head,
    pyramid_neck,
)
from training.worker.keypoints import REFINE_RADIUS

DECODED = ("boxes", "scores", "keypoints", "count")


@dataclass(frozen=True)
class PoseModelConfig:
    architecture: str
    input_size: int
    num_keypoints: int
    alpha: float = 1.0
    minimalistic: bool = False
    output_stride: int = 4
    neck_channels: int = 64
    bn_momentum: float = 0.9
    max_detections: int = 20
    score_threshold: float = 0.05
    refine: bool = True
    refine_threshold: float = 0.1

    @property
    def grid(self) -> int:
        return self.input_size // self.output_stride

    @property
    def detections(self) -> int:
        """M actually used: ``max_detections``, capped by the number of heatmap cells."""
        return min(self.max_detections, self.grid * self.grid)

    def centernet(self) -> ModelConfig:
        """The detector's configuration for the shared backbone, neck and head builders."""
        return ModelConfig(
            architecture=self.architecture,
            input_size=self.input_size,
            num_classes=1,
            alpha=self.alpha,
            minimalistic=self.minimalistic,
            output_stride=self.output_stride,
            neck_channels=self.neck_channels,
            bn_momentum=self.bn_momentum,
            max_detections=self.max_detections,
            score_threshold=self.score_threshold,
        )


def build_models(config: PoseModelConfig) -> tuple[Any, Any]:
    """``(train_model, export_model)`` sharing every layer.

    Train model outputs (a dict), ``G = S / output_stride``: ``heatmap`` ``(B, G, G, 1)``,
    ``size`` and ``offset`` ``(B, G, G, 2)``, ``kp_offset`` ``(B, G, G, 2K)``, ``kp_heatmap``
    ``(B, G, G, K)``. Export model outputs: ``boxes``, ``scores``, ``keypoints``, ``count``
    (see :class:`PoseDecode`).
    """
    base = config.centernet()
    k = config.num_keypoints
    size = config.input_size
    image = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(image)
    p = pyramid_neck(backbone(base)(x), base)
    heads = {
        "heatmap": prediction_head(p, 1, "heatmap", base, activation="sigmoid", bias=HEATMAP_PRIOR_BIAS),
        "size": prediction_head(p, 2, "size", base),
        "offset": prediction_head(p, 2, "offset", base),
        "kp_offset": prediction_head(p, 2 * k, "kp_offset", base),
        "kp_heatmap": prediction_head(p, k, "kp_heatmap", base, activation="sigmoid", bias=HEATMAP_PRIOR_BIAS),
    }
    train = keras.Model(image, heads, name="centernet_pose_train")
    decoded = PoseDecode(max_detections=config.max_detections, score_threshold=config.score_threshold,
                         refine=config.refine, refine_threshold=config.refine_threshold, name="decode")(
        heads["heatmap"], heads["size"], heads["offset"], heads["kp_offset"], heads["kp_heatmap"]
    )
    outputs = {key: layers.Identity(name=key)(value) for key, value in zip(DECODED, decoded)}
    export = keras.Model(image, outputs, name="centernet_pose")
    return train, export


@keras.saving.register_keras_serializable(package="lensforge.keypoints")
class PoseDecode(keras.layers.Layer):
    """Heads -> ``(boxes, scores, keypoints, count)``, in the graph, TFLite builtins only.

    * ``boxes`` float32 ``(B, M, 4)``: ``[ymin, xmin, ymax, xmax]`` normalised 0..1 (clipped),
      sorted by score; centre ``(cell + offset) / G``, size ``max(size, 0) / G``;
    * ``scores`` float32 ``(B, M)``: the centre heatmap at the peak, descending;
    * ``keypoints`` float32 ``(B, M, K, 3)``: per instance and keypoint ``x, y`` normalised 0..1
      (``(col + dx) / G``, ``(row + dy) / G``, clipped) and a score: ``kp_heatmap[..., k]`` at the
      cell ``(floor(row + dy), floor(col + dx))`` (clamped to the grid);
    * ``count`` int32 ``(B,)``: how many of the M have ``score >= score_threshold`` (they come first).

    Peaks are :func:`~training.worker.detect_model.local_peaks` of the centre heatmap.
    """

    def __init__(self, max_detections: int = 20, score_threshold: float = 0.05, refine: bool = False,
                 refine_threshold: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_detections = int(max_detections)
        self.score_threshold = float(score_threshold)
        self.refine = bool(refine)
        self.refine_threshold = float(refine_threshold)

    def call(self, heatmap: Any, size: Any, offset: Any, kp_offset: Any, kp_heatmap: Any) -> tuple[Any, Any, Any, Any]:
        _, height, width, _ = heatmap.shape
        points = kp_heatmap.shape[-1]
        cells = height * width
        m = min(self.max_detections, cells)
        peaks = local_peaks(heatmap)
        scores, index = ops.top_k(ops.reshape(peaks, (-1, cells)), m, sorted=True)
        cell = ops.cast(index, "int32")
        cell_index = ops.expand_dims(cell, -1)
        wh = ops.maximum(ops.take_along_axis(ops.reshape(size, (-1, cells, 2)), cell_index, axis=1), 0.0)
        dxy = ops.take_along_axis(ops.reshape(offset, (-1, cells, 2)), cell_index, axis=1)
        moves = ops.take_along_axis(ops.reshape(kp_offset, (-1, cells, 2 * points)), cell_index, axis=1)
        moves = ops.reshape(moves, (-1, m, points, 2))
        row = ops.cast(ops.floor_divide(cell, width), "float32")
        col = ops.cast(ops.mod(cell, width), "float32")
        cx = (col + dxy[..., 0]) / width
        cy = (row + dxy[..., 1]) / height
        half_w = wh[..., 0] / (2.0 * width)
        half_h = wh[..., 1] / (2.0 * height)
        boxes = ops.clip(ops.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], axis=-1), 0.0, 1.0)
        kx = ops.expand_dims(col, -1) + moves[..., 0]  # (B, M, K), in cells
        ky = ops.expand_dims(row, -1) + moves[..., 1]
        if self.refine:
            kx, ky = self._snap(kx, ky, kp_heatmap)
        kcol = ops.clip(ops.cast(ops.floor(kx), "int32"), 0, width - 1)
        krow = ops.clip(ops.cast(ops.floor(ky), "int32"), 0, height - 1)
        flat = (krow * width + kcol) * points + ops.arange(points, dtype="int32")
        kscore = ops.take_along_axis(
            ops.reshape(kp_heatmap, (-1, cells * points)), ops.reshape(flat, (-1, m * points)), axis=1
        )
        kscore = ops.reshape(kscore, (-1, m, points))
        keypoints = ops.stack([ops.clip(kx / width, 0.0, 1.0), ops.clip(ky / height, 0.0, 1.0), kscore], axis=-1)
        count = ops.sum(ops.cast(ops.greater_equal(scores, self.score_threshold), "int32"), axis=1)
        return boxes, scores, keypoints, count

    def _snap(self, kx: Any, ky: Any, kp_heatmap: Any) -> tuple[Any, Any]:
        """Move each regressed keypoint ``(kx, ky)`` ``(B, M, K)`` (in cells) to the centre of the
        highest cell of its own type's heatmap within ``REFINE_RADIUS`` cells, when that cell scores
        at least ``refine_threshold`` (else it keeps its regressed place): CenterNet's multi-pose
        refinement, as a local search. Only heatmap values are compared and only integer cell
        offsets are added, so the int8 file decodes alike (distances in int8 would not survive its
        quantisation); ties go to the cell nearest the regressed one (the window is ordered so)."""
        _, height, width, points = kp_heatmap.shape
        r = REFINE_RADIUS
        window = sorted(((dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)),
                        key=lambda o: (o[0] ** 2 + o[1] ** 2, o))
        dys = ops.convert_to_tensor([dy for dy, _ in window], "int32")
        dxs = ops.convert_to_tensor([dx for _, dx in window], "int32")
        kcol = ops.clip(ops.cast(ops.floor(kx), "int32"), 0, width - 1)
        krow = ops.clip(ops.cast(ops.floor(ky), "int32"), 0, height - 1)
        cols = ops.clip(ops.expand_dims(kcol, -1) + dxs, 0, width - 1)  # (B, M, K, W)
        rows = ops.clip(ops.expand_dims(krow, -1) + dys, 0, height - 1)
        channel = ops.reshape(ops.arange(points, dtype="int32"), (1, 1, points, 1))
        flat = (rows * width + cols) * points + channel
        m, w = kx.shape[1], len(window)
        values = ops.take_along_axis(
            ops.reshape(kp_heatmap, (-1, height * width * points)), ops.reshape(flat, (-1, m * points * w)), axis=1
        )
        values = ops.reshape(values, (-1, m, points, w))
        import tensorflow as tf  # keras.ops.argmax adds a negative-zero fix made of bitwise ops, not TFLite builtins

        best = tf.math.argmax(values, axis=-1, output_type=tf.int32)  # the first (nearest) of the highest
        found = ops.greater_equal(ops.max(values, axis=-1), self.refine_threshold)
        snap_x = ops.cast(ops.clip(kcol + ops.take(dxs, best), 0, width - 1), "float32") + 0.5
        snap_y = ops.cast(ops.clip(krow + ops.take(dys, best), 0, height - 1), "float32") + 0.5
        return ops.where(found, snap_x, kx), ops.where(found, snap_y, ky)

    def compute_output_spec(
        self, heatmap: Any, size: Any, offset: Any, kp_offset: Any, kp_heatmap: Any
    ) -> tuple[Any, Any, Any, Any]:
        batch, height, width, _ = heatmap.shape
        m = min(self.max_detections, height * width)
        points = kp_heatmap.shape[-1]
        return (
            keras.KerasTensor((batch, m, 4), dtype="float32"),
            keras.KerasTensor((batch, m), dtype="float32"),
            keras.KerasTensor((batch, m, points, 3), dtype="float32"),
            keras.KerasTensor((batch,), dtype="int32"),
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_detections": self.max_detections, "score_threshold": self.score_threshold,
                "refine": self.refine, "refine_threshold": self.refine_threshold}


def decode_model(grid: int, num_keypoints: int, *, max_detections: int = 20, score_threshold: float = 0.05,
                 refine: bool = False, refine_threshold: float = 0.1) -> Any:
    """The decode alone as a model on hand-made heads (inputs ``heatmap``, ``size``, ``offset``,
    ``kp_offset``, ``kp_heatmap``), to test it (or run it) without a backbone."""
    k = num_keypoints
    inputs = [
        keras.Input((grid, grid, 1), name="heatmap"),
        keras.Input((grid, grid, 2), name="size"),
        keras.Input((grid, grid, 2), name="offset"),
        keras.Input((grid, grid, 2 * k), name="kp_offset"),
        keras.Input((grid, grid, k), name="kp_heatmap"),
    ]
    decoded = PoseDecode(max_detections=max_detections, score_threshold=score_threshold, refine=refine,
                         refine_threshold=refine_threshold, name="decode")(*inputs)
    outputs = {key: layers.Identity(name=key)(value) for key, value in zip(DECODED, decoded)}
    return keras.Model(inputs, outputs, name="centernet_pose_decode")


# --- losses ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="lensforge.keypoints")
class KeypointL1Loss(keras.losses.Loss):
    """L1 on the keypoint displacements, only where the keypoint is labeled.

    ``y_true`` is ``(..., 3K)``: the 2K targets ``dx1, dy1, ..., dxK, dyK`` and then K masks (1 at
    an instance's centre cell for each of its labeled keypoints). The masked sum of ``|dx| + |dy|``
    over the batch is divided by the number of labeled keypoints (at least 1). One scalar.
    """

    def __init__(self, name: str = "kp_offset_l1", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, y_pred.dtype)
        points = y_pred.shape[-1] // 2
        mask = y_true[..., 2 * points :]
        error = ops.abs(y_pred - y_true[..., : 2 * points]) * ops.repeat(mask, 2, axis=-1)  # m1, m1, m2, m2, ...
        return ops.sum(error) / ops.maximum(ops.sum(mask), 1.0)


LOSS_WEIGHTS = {"heatmap": 1.0, "size": 0.1, "offset": 1.0, "kp_offset": 1.0, "kp_heatmap": 1.0}


def compile_model(model: Any, optimizer: Any) -> None:
    model.compile(
        optimizer=optimizer,
        loss={
            "heatmap": CenterNetFocalLoss(),
            "size": MaskedL1Loss(name="size_l1"),
            "offset": MaskedL1Loss(name="offset_l1"),
            "kp_offset": KeypointL1Loss(),
            "kp_heatmap": CenterNetFocalLoss(name="kp_focal"),
        },
        loss_weights=dict(LOSS_WEIGHTS),
    )
