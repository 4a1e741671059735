"""The detector's Keras side: MobileNetV3 backbone, top-down feature pyramid, CenterNet heads, the
in-graph decode of the export model, and the CenterNet losses.

Imported by :mod:`training.worker.detect` only inside ``build``/``compile`` (this module imports
Keras at its top; ``detect`` itself stays importable without TensorFlow, e.g. for ``check``).
Importing it registers the custom layer and losses (package ``lensforge.detect``), which
``keras.models.load_model`` needs to read a checkpoint or ``model.keras`` back.

**Architecture** (input ``S x S`` RGB 0..255, ``S`` a multiple of 32):

* ``Rescaling(1/127.5, offset=-1)`` (MobileNetV3's own [-1, 1] range, so ImageNet weights passed
  as ``initial_weights`` would fit), then the backbone without its top
  (``keras.applications.MobileNetV3Small/Large``, ``weights=None``, ``include_preprocessing=False``,
  ``alpha`` and ``minimalistic`` from the options) as a nested model ``backbone`` whose outputs are
  the last block of each stride (:data:`FEATURES`): the stride-32 block output rather than the
  ``conv_1`` 1x1 expansion (576+ channels) the classifier needs, which a detector does not.
* Neck: each level gets a lateral 1x1 conv (BN, ReLU) to ``neck_channels``; from stride 32 down
  the map is upsampled x2 (nearest), added to the next lateral and refined by a depthwise-separable
  3x3 conv (DW 3x3 + BN + ReLU + 1x1 + BN + ReLU): 32 -> 16 -> 8, and -> 4 when ``output_stride``
  is 4 (the default; 8 halves the heads' cost for large inputs).
* Heads at the output stride, each a depthwise-separable 3x3 conv (BN, ReLU) and a 1x1 conv:
  ``heatmap`` (C channels, sigmoid, bias initialised to -2.19 = logit of 0.1 as in CenterNet),
  ``size`` (w, h of the box in output cells, linear) and ``offset`` (dx, dy of the centre inside its
  cell, 0..1, linear).

**Export model** (same layers): :class:`CenterNetDecode` turns the heads into final detections with
TFLite builtins only (MAX_POOL_2D, EQUAL, SELECT_V2, RESHAPE, TOPK_V2, FLOOR_DIV, FLOOR_MOD, GATHER,
arithmetic, plus the SHAPE/TILE/BROADCAST_TO/TRANSPOSE/CAST plumbing ``take_along_axis`` emits for a
dynamic batch; PAD, STRIDED_SLICE, MAXIMUM, GREATER, LOGICAL_AND for ties): a 3x3 max-pool keeps
local maxima of the heatmap (the CenterNet replacement for NMS), one per plateau of equal values,
``top_k`` over all cells and classes takes the ``K`` best, and the size/offset of each peak's cell
are gathered to build its box. It is written with ``keras.ops`` inside a Keras layer: that converts
to full int8 on this stack, while the same decode in a bare ``tf.Module`` fails at calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

# The last block output at each stride, by backbone. Block outputs with a residual end in an
# ``_add`` layer; the stride-4 block of the small net has none (its only block at stride 4 is the
# strided one), so its ``project_bn`` is taken. These names exist for every alpha/minimalistic.
FEATURES = {
    "mobilenet_v3_small": {
        4: "expanded_conv_project_bn",
        8: "expanded_conv_2_add",
        16: "expanded_conv_7_add",
        32: "expanded_conv_10_add",
    },
    "mobilenet_v3_large": {
        4: "expanded_conv_2_add",
        8: "expanded_conv_5_add",
        16: "expanded_conv_11_add",
        32: "expanded_conv_14_add",
    },
}

BACKBONES = {
    "mobilenet_v3_small": keras.applications.MobileNetV3Small,
    "mobilenet_v3_large": keras.applications.MobileNetV3Large,
}

HEATMAP_PRIOR_BIAS = -2.19  # logit(0.1): the heatmap starts near 0.1, not 0.5, so early focal loss is sane


@dataclass(frozen=True)
class ModelConfig:
    architecture: str
    input_size: int
    num_classes: int
    alpha: float = 1.0
    minimalistic: bool = False
    output_stride: int = 4
    neck_channels: int = 64
    bn_momentum: float = 0.9
    max_detections: int = 100
    score_threshold: float = 0.05

    @property
    def grid(self) -> int:
        return self.input_size // self.output_stride

    @property
    def detections(self) -> int:
        """K actually used: ``max_detections``, capped by the number of heatmap entries."""
        return min(self.max_detections, self.grid * self.grid * self.num_classes)


def build_models(config: ModelConfig) -> tuple[Any, Any]:
    """``(train_model, export_model)`` sharing every layer.

    Train model outputs (a dict): ``heatmap`` ``(B, G, G, C)`` sigmoid, ``size`` ``(B, G, G, 2)``,
    ``offset`` ``(B, G, G, 2)`` with ``G = S / output_stride``. Export model outputs (a dict):
    ``boxes``, ``classes``, ``scores``, ``count`` (see :class:`CenterNetDecode`).
    """
    size = config.input_size
    image = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(image)
    features = backbone(config)(x)
    p = pyramid_neck(features, config)
    heatmap = prediction_head(p, config.num_classes, "heatmap", config, activation="sigmoid", bias=HEATMAP_PRIOR_BIAS)
    wh = prediction_head(p, 2, "size", config)
    offset = prediction_head(p, 2, "offset", config)
    train = keras.Model(image, {"heatmap": heatmap, "size": wh, "offset": offset}, name="centernet_train")
    decoded = CenterNetDecode(
        max_detections=config.max_detections, score_threshold=config.score_threshold, name="decode"
    )(heatmap, wh, offset)
    outputs = {key: layers.Identity(name=key)(value) for key, value in zip(DECODED, decoded)}
    export = keras.Model(image, outputs, name="centernet")
    return train, export


DECODED = ("boxes", "classes", "scores", "count")


def backbone(config: ModelConfig) -> Any:
    """MobileNetV3 without its top (random weights) as a nested model ``backbone`` whose outputs
    are the last block at strides 32, 16, 8 (and 4 for an output stride of 4). Shared by the pose
    and segmentation models."""
    strides = (32, 16, 8, 4) if config.output_stride == 4 else (32, 16, 8)
    net = BACKBONES[config.architecture](
        input_shape=(config.input_size, config.input_size, 3),
        alpha=config.alpha,
        minimalistic=config.minimalistic,
        include_top=False,
        weights=None,
        include_preprocessing=False,
    )
    for layer in net.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = config.bn_momentum
    names = FEATURES[config.architecture]
    return keras.Model(net.input, [net.get_layer(names[s]).output for s in strides], name="backbone")


def _conv_bn_relu(x: Any, filters: int, name: str, config: ModelConfig) -> Any:
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _separable(x: Any, filters: int, name: str, config: ModelConfig) -> Any:
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    return _conv_bn_relu(x, filters, f"{name}_pw", config)


def pyramid_neck(features: list[Any], config: ModelConfig) -> Any:
    """Top-down fusion from stride 32 to the output stride (features are ordered 32, 16, 8[, 4]);
    the pose model's neck too."""
    channels = config.neck_channels
    strides = (32, 16, 8, 4)
    p = _conv_bn_relu(features[0], channels, "lateral_32", config)
    for feature, stride in zip(features[1:], strides[1:]):
        p = layers.UpSampling2D(2, interpolation="nearest", name=f"up_{stride}")(p)
        p = layers.Add(name=f"fuse_{stride}")([p, _conv_bn_relu(feature, channels, f"lateral_{stride}", config)])
        p = _separable(p, channels, f"smooth_{stride}", config)
    return p


def prediction_head(
    x: Any, filters: int, name: str, config: ModelConfig, activation: str | None = None, bias: float = 0.0
) -> Any:
    """A separable 3x3 block and a 1x1 convolution to ``filters`` maps named ``name`` (every
    CenterNet head: heatmaps, sizes, offsets, keypoint offsets)."""
    x = _separable(x, config.neck_channels, f"{name}_head", config)
    return layers.Conv2D(
        filters,
        1,
        activation=activation,
        bias_initializer=keras.initializers.Constant(bias),
        name=name,
    )(x)


def local_peaks(heatmap: Any) -> Any:
    """The heatmap where an entry is a peak of its channel, 0 elsewhere (``(B, H, W, C)`` in and out).

    A peak is the max of its 3x3 neighbourhood (the CenterNet replacement for NMS) and, among equal
    neighbours, the first in raster order: it must be strictly above the four neighbours that come
    before it (up-left, up, up-right, left). In float a tie almost never happens; in a full-int8
    file the sigmoid heatmap has 256 levels, so the cells around a peak often quantise to the same
    value, and counting every one of them would turn one object into two to four detections of the
    same box (false positives at the top of the ranking). Padding, slices, ``maximum`` and the
    comparisons are TFLite builtins that stay int8 (every operand has the heatmap's scale).
    """
    _, height, width, _ = heatmap.shape
    pooled = ops.max_pool(heatmap, pool_size=3, strides=1, padding="same")
    padded = ops.pad(heatmap, [[0, 0], [1, 0], [1, 1], [0, 0]])  # the heatmap is >= 0: pad with 0
    earlier = ops.maximum(
        ops.maximum(padded[:, :height, :width], padded[:, :height, 1 : width + 1]),
        ops.maximum(padded[:, :height, 2 : width + 2], padded[:, 1:, :width]),
    )
    is_peak = ops.logical_and(ops.equal(heatmap, pooled), ops.greater(heatmap, earlier))
    return ops.where(is_peak, heatmap, ops.zeros_like(heatmap))


@keras.saving.register_keras_serializable(package="lensforge.detect")
class CenterNetDecode(keras.layers.Layer):
    """Heads -> ``(boxes, classes, scores, count)``, in the graph, TFLite builtins only.

    * ``boxes`` float32 ``(B, K, 4)``: ``[ymin, xmin, ymax, xmax]`` normalised 0..1 to the model
      input (clipped), sorted by score;
    * ``classes`` int32 ``(B, K)``: class index into the labels;
    * ``scores`` float32 ``(B, K)``: the heatmap value at the peak, descending;
    * ``count`` int32 ``(B,)``: how many of the K have ``score >= score_threshold`` (they come first).

    Peaks are :func:`local_peaks` of each class channel. The box centre is ``(cell + offset) / G`` and its size ``size / G``.
    """

    def __init__(self, max_detections: int = 100, score_threshold: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_detections = int(max_detections)
        self.score_threshold = float(score_threshold)

    def call(self, heatmap: Any, size: Any, offset: Any) -> tuple[Any, Any, Any, Any]:
        _, height, width, classes = heatmap.shape
        k = min(self.max_detections, height * width * classes)
        peaks = local_peaks(heatmap)
        scores, index = ops.top_k(ops.reshape(peaks, (-1, height * width * classes)), k, sorted=True)
        index = ops.cast(index, "int32")
        labels = ops.mod(index, classes)
        cell = ops.floor_divide(index, classes)
        cell_index = ops.expand_dims(cell, -1)
        wh = ops.take_along_axis(ops.reshape(size, (-1, height * width, 2)), cell_index, axis=1)
        dxy = ops.take_along_axis(ops.reshape(offset, (-1, height * width, 2)), cell_index, axis=1)
        row = ops.cast(ops.floor_divide(cell, width), "float32")
        col = ops.cast(ops.mod(cell, width), "float32")
        cx = (col + dxy[..., 0]) / width
        cy = (row + dxy[..., 1]) / height
        half_w = wh[..., 0] / (2.0 * width)
        half_h = wh[..., 1] / (2.0 * height)
        boxes = ops.clip(ops.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], axis=-1), 0.0, 1.0)
        count = ops.sum(ops.cast(ops.greater_equal(scores, self.score_threshold), "int32"), axis=1)
        return boxes, labels, scores, count

    def compute_output_spec(self, heatmap: Any, size: Any, offset: Any) -> tuple[Any, Any, Any, Any]:
        batch, height, width, classes = heatmap.shape
        k = min(self.max_detections, height * width * classes)
        return (
            keras.KerasTensor((batch, k, 4), dtype="float32"),
            keras.KerasTensor((batch, k), dtype="int32"),
            keras.KerasTensor((batch, k), dtype="float32"),
            keras.KerasTensor((batch,), dtype="int32"),
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_detections": self.max_detections, "score_threshold": self.score_threshold}


def decode_model(grid: int, num_classes: int, *, max_detections: int = 100, score_threshold: float = 0.05) -> Any:
    """The decode alone as a model on hand-made heads (``heatmap``, ``size``, ``offset`` inputs), to
    test it (or run it) without a backbone."""
    heatmap = keras.Input((grid, grid, num_classes), name="heatmap")
    size = keras.Input((grid, grid, 2), name="size")
    offset = keras.Input((grid, grid, 2), name="offset")
    decoded = CenterNetDecode(max_detections=max_detections, score_threshold=score_threshold, name="decode")(
        heatmap, size, offset
    )
    outputs = {key: layers.Identity(name=key)(value) for key, value in zip(DECODED, decoded)}
    return keras.Model([heatmap, size, offset], outputs, name="centernet_decode")


# --- losses ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="lensforge.detect")
class CenterNetFocalLoss(keras.losses.Loss):
    """Penalty-reduced pixel-wise focal loss (CenterNet, Zhou et al. 2019, eq. 1), on sigmoid output.

    ``y_true`` is the Gaussian heatmap (1.0 exactly at object centres). Positives: ``-(1-p)^a log p``;
    negatives: ``-(1-y)^b p^a log(1-p)``; the sum over the batch is divided by the number of
    objects in the batch (at least 1). ``a = alpha = 2``, ``b = beta = 4``. Returns one scalar.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 4.0, name: str = "centernet_focal", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, y_pred.dtype)
        p = ops.clip(y_pred, 1e-4, 1.0 - 1e-4)
        positive = ops.cast(ops.greater_equal(y_true, 1.0 - 1e-4), p.dtype)
        negative = 1.0 - positive
        pos_loss = ops.log(p) * ops.power(1.0 - p, self.alpha) * positive
        neg_loss = ops.log(1.0 - p) * ops.power(p, self.alpha) * ops.power(1.0 - y_true, self.beta) * negative
        objects = ops.maximum(ops.sum(positive), 1.0)
        return -(ops.sum(pos_loss) + ops.sum(neg_loss)) / objects

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="lensforge.detect")
class MaskedL1Loss(keras.losses.Loss):
    """L1 at object centres only: ``y_true`` is ``(..., n + 1)``, the n regression targets and then
    the centre mask; the masked sum over the batch is divided by the number of objects. One scalar."""

    def __init__(self, name: str = "masked_l1", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, y_pred.dtype)
        mask = y_true[..., -1:]
        error = ops.abs(y_pred - y_true[..., :-1]) * mask
        return ops.sum(error) / ops.maximum(ops.sum(mask), 1.0)


LOSS_WEIGHTS = {"heatmap": 1.0, "size": 0.1, "offset": 1.0}


def compile_model(model: Any, optimizer: Any) -> None:
    model.compile(
        optimizer=optimizer,
        loss={
            "heatmap": CenterNetFocalLoss(),
            "size": MaskedL1Loss(name="size_l1"),
            "offset": MaskedL1Loss(name="offset_l1"),
        },
        loss_weights=dict(LOSS_WEIGHTS),
    )
