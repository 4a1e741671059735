"""The segmenter's Keras side: MobileNetV3 backbone, LR-ASPP head, the export outputs and the loss.

Imported by :mod:`training.worker.segment` only inside ``build``/``compile`` (this module imports
Keras at its top; ``segment`` itself stays importable without TensorFlow, e.g. for ``check``).
Importing it registers the custom layer and loss (package ``lensforge.segment``), which
``keras.models.load_model`` needs to read a checkpoint or ``model.keras`` back.

**Architecture** (input ``S x S`` RGB 0..255, ``S`` a multiple of 32):

* ``Rescaling(1/127.5, offset=-1)``, then the detector's backbone
  (:func:`training.worker.detect_model.backbone`: ``keras.applications.MobileNetV3Small/Large``,
  ``weights=None``, ``alpha`` / ``minimalistic`` from the options) cut after its stride-16 block
  (the stride-32 stage is not built into the model): a nested model ``backbone`` whose outputs are
  the last block output at stride 16 and at stride 8 (:data:`training.worker.detect_model.FEATURES`).
* **LR-ASPP** (Lite Reduced Atrous Spatial Pyramid Pooling, MobileNetV3 paper, Howard et al.
  2019, section 6.4), on the stride-16 features ``f16``: a branch ``1x1 conv (head_channels, 128)
  + BN + ReLU`` multiplied by a gate ``sigmoid(1x1 conv(global average pool(f16)))`` (a
  squeeze-and-excitation of the whole image), upsampled x2 to stride 8 (bilinear) and projected by
  a 1x1 conv to ``C`` classes; plus a 1x1 conv to ``C`` classes on the stride-8 features ``f8``;
  the two summed are the stride-8 logits, upsampled x8 to ``S x S`` (bilinear).

Every op converts to a TFLite builtin (CONV_2D, DEPTHWISE_CONV_2D, HARD_SWISH, MEAN, LOGISTIC,
MUL, ADD, RESIZE_BILINEAR, and ARG_MAX + CAST or SOFTMAX for the outputs), in float and in int8.

**Models** (sharing every layer): the train model returns ``{"logits": (B, S, S, C)}`` float32
(no softmax: the loss takes logits); the export model returns one output, chosen by
``options.segment_output``:

* ``"class_map"`` (default): ``class_map`` ``(B, S, S)`` uint8, the argmax over classes in the
  graph (:class:`ClassMap`); the value is the index into the labels (0 = background);
* ``"scores"``: ``scores`` ``(B, S, S, C)`` float32, the per-pixel softmax.

**Loss** (:class:`MaskedSegmentationLoss`): softmax cross-entropy over the ``C`` classes per pixel,
with weight 0 on pixels whose target is :data:`IGNORE` (255: letterbox bars, outside the picture)
and 1 elsewhere, summed over the batch and divided by the number of non-ignored pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from training.worker.detect_model import FEATURES
from training.worker.detect_model import ModelConfig as BackboneConfig
from training.worker.detect_model import backbone as detector_backbone
from training.worker.task_api import IGNORE

OUTPUTS = ("class_map", "scores")


@dataclass(frozen=True)
class SegmentModelConfig:
    architecture: str
    input_size: int
    num_classes: int  # background included
    alpha: float = 1.0
    minimalistic: bool = False
    bn_momentum: float = 0.9
    head_channels: int = 128
    output: str = "class_map"  # one of OUTPUTS


def build_models(config: SegmentModelConfig) -> tuple[Any, Any]:
    """``(train_model, export_model)`` sharing every layer (see the module doc for the outputs)."""
    if config.output not in OUTPUTS:
        raise ValueError(f"segment output must be one of {OUTPUTS}, got {config.output!r}")
    size = config.input_size
    image = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(image)
    f16, f8 = backbone(config)(x)
    logits = lr_aspp(f16, f8, config)
    train = keras.Model(image, {"logits": logits}, name="lraspp_train")
    if config.output == "class_map":
        output = ClassMap(name="class_map")(logits)
    else:
        output = layers.Softmax(axis=-1, name="scores")(logits)
    export = keras.Model(image, {config.output: output}, name="lraspp")
    return train, export


def backbone(config: SegmentModelConfig) -> Any:
    """The detector's MobileNetV3 backbone with outputs ``[stride 16, stride 8]`` only: a model cut
    from it keeps just the layers those outputs need (no stride-32 stage)."""
    full = detector_backbone(
        BackboneConfig(
            architecture=config.architecture,
            input_size=config.input_size,
            num_classes=config.num_classes,
            alpha=config.alpha,
            minimalistic=config.minimalistic,
            output_stride=8,  # outputs at strides 32, 16, 8
            bn_momentum=config.bn_momentum,
        )
    )
    names = FEATURES[config.architecture]
    f16 = full.get_layer(names[16]).output
    f8 = full.get_layer(names[8]).output
    return keras.Model(full.input, [f16, f8], name="backbone")


def lr_aspp(f16: Any, f8: Any, config: SegmentModelConfig) -> Any:
    """The LR-ASPP head: stride-16 and stride-8 features -> logits ``(B, S, S, C)`` (module doc)."""
    classes = config.num_classes
    branch = layers.Conv2D(config.head_channels, 1, use_bias=False, name="aspp_conv")(f16)
    branch = layers.BatchNormalization(momentum=config.bn_momentum, name="aspp_bn")(branch)
    branch = layers.ReLU(name="aspp_relu")(branch)
    gate = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(f16)
    gate = layers.Conv2D(config.head_channels, 1, activation="sigmoid", name="aspp_gate")(gate)
    x = layers.Multiply(name="aspp_mul")([branch, gate])
    x = layers.UpSampling2D(2, interpolation="bilinear", name="aspp_up")(x)
    x = layers.Conv2D(classes, 1, name="high_classifier")(x)
    low = layers.Conv2D(classes, 1, name="low_classifier")(f8)
    x = layers.Add(name="logits_8")([x, low])
    return layers.UpSampling2D(8, interpolation="bilinear", name="logits")(x)


@keras.saving.register_keras_serializable(package="lensforge.segment")
class ClassMap(keras.layers.Layer):
    """Logits ``(B, H, W, C)`` -> the per-pixel argmax ``(B, H, W)`` as uint8 (ARG_MAX + CAST in
    TFLite). Ties go to the lower class index, as ``numpy.argmax``.

    ``tf.argmax`` rather than ``keras.ops.argmax``: the latter adds a negative-zero fix
    (Bitcast + BitwiseAnd) that has no TFLite builtin and no ONNX conversion."""

    def call(self, logits: Any) -> Any:
        import tensorflow as tf

        return tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.uint8)

    def compute_output_spec(self, logits: Any) -> Any:
        return keras.KerasTensor(tuple(logits.shape[:-1]), dtype="uint8")


@keras.saving.register_keras_serializable(package="lensforge.segment")
class MaskedSegmentationLoss(keras.losses.Loss):
    """Per-pixel softmax cross-entropy on logits, ignoring :data:`IGNORE` pixels.

    ``y_true``: ``(B, H, W)`` class indices (any integer dtype), :data:`IGNORE` where the pixel
    does not count; ``y_pred``: ``(B, H, W, C)`` logits. Each counted pixel is weighted by its
    class's entry of ``class_weights`` (all 1 without); the weighted sum over the batch is divided by
    the number of counted pixels (at least 1). Returns one scalar.
    """

    def __init__(self, ignore: int = IGNORE, class_weights: list[float] | None = None,
                 name: str = "masked_softmax_ce", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.ignore = int(ignore)
        self.class_weights = [float(w) for w in class_weights] if class_weights else None

    def call(self, y_true: Any, y_pred: Any) -> Any:
        target = ops.cast(y_true, "int32")
        counted = ops.cast(ops.not_equal(target, self.ignore), y_pred.dtype)
        target = ops.where(ops.equal(target, self.ignore), ops.zeros_like(target), target)
        entropy = keras.losses.sparse_categorical_crossentropy(target, y_pred, from_logits=True)
        weight = counted
        if self.class_weights:
            weight = counted * ops.take(ops.convert_to_tensor(self.class_weights, y_pred.dtype), target)
        return ops.sum(entropy * weight) / ops.maximum(ops.sum(counted), 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ignore": self.ignore, "class_weights": self.class_weights}


def compile_model(model: Any, optimizer: Any, class_weights: list[float] | None = None) -> None:
    """``class_weights``: one loss weight per class for the pixels of that class (None: all 1)."""
    model.compile(optimizer=optimizer, loss={"logits": MaskedSegmentationLoss(class_weights=class_weights)},
                  jit_compile=False)
