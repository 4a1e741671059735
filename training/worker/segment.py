"""The semantic segmentation task: MobileNetV3 + LR-ASPP, one class per pixel, shipped as ``.tflite``.

One module per concern (this one imports neither TensorFlow nor Keras at its top, so ``check``
and the registry cost nothing to import):

* :mod:`training.worker.segment_model` — the Keras models (backbone, LR-ASPP head, the export
  output) and the loss;
* :mod:`training.worker.segment_metrics` — the confusion matrix, IoU metrics, plots and drawing;
* here — the task itself (:class:`SegmentTask`), its options and the training targets.

**Labels**: ``spec.labels[0]`` is ``"background"`` (every pixel no segment covers), the object
classes follow. The data layer paints each image's segments (masks and polygons) into
``Sample.mask``, a uint8 ``(S, S)`` class map at the input size, with
:data:`~training.worker.task_api.IGNORE` (255) on the letterbox bars.

**Model** (see :mod:`training.worker.segment_model`): MobileNetV3 Small/Large (``weights=None``,
``alpha``/``minimalistic``) -> stride-16 and stride-8 features -> the LR-ASPP head of the
MobileNetV3 paper -> logits at the input size (bilinear).

**Targets** (:meth:`SegmentTask.targets`): ``{"logits": mask}``, the class map itself (uint8
``(S, S)``, 255 = ignore). **Loss**: softmax cross-entropy per pixel, ignored pixels weighted 0,
averaged over the counted pixels of the batch. **Class weights** (``options.class_weights``): per
*pixel*, not per image (a per-image weight does not address a per-pixel imbalance). ``true`` (or
``"balanced"``) weighs each class by ``1 / (C * f_c)``, ``f_c`` its share of the counted pixels of the
train split at the input size (capped at 50), so that the mean weight of a pixel stays 1 and a class
painted on 6% of the pixels (people in coco128) counts as much as the background; a mapping of label
to weight sets them directly (unnamed classes 1).

**Export output** (``options.segment_output``): ``"class_map"`` (default) ships ``class_map``
``(B, S, S)`` uint8, the argmax in the graph, the same dtype in every file (the int8 file's input
is int8, its class map still uint8); ``"scores"`` ships ``scores`` ``(B, S, S, C)`` float32 softmax,
kept float32 in the int8 file (:meth:`SegmentTask.float_outputs`). Both are scored by the same code
(:func:`training.worker.segment_metrics.evaluate_segmentation`).

Options (``spec.options``): ``alpha`` (1.0), ``minimalistic`` (False), ``bn_momentum`` (``"auto"``),
``head_channels`` (128), ``segment_output`` (``"class_map"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec
from training.worker.detect import backbone_problem
from training.worker.task_api import IGNORE, Predict, Sample

SEGMENT_OUTPUTS = ("class_map", "scores")
BACKGROUND = "background"
SEGMENT_KINDS = ("polygon", "mask")


@dataclass(frozen=True)
class SegmentConfig:
    architecture: str
    input_size: int
    num_classes: int
    alpha: float = 1.0
    minimalistic: bool = False
    bn_momentum: float = 0.9
    head_channels: int = 128
    output: str = "class_map"

    @classmethod
    def from_spec(cls, spec: RunSpec) -> SegmentConfig:
        options = spec.options or {}
        return cls(
            architecture=spec.architecture,
            input_size=int(spec.input_size),
            num_classes=len(spec.labels),
            alpha=float(options.get("alpha", 1.0)),
            minimalistic=bool(options.get("minimalistic", False)),
            # "auto" (the default): the run loop sets the momentum from the run's length after build.
            bn_momentum=0.9 if options.get("bn_momentum", "auto") == "auto" else float(options["bn_momentum"]),
            head_channels=int(options.get("head_channels", 128)),
            output=str(options.get("segment_output", "class_map")),
        )


class SegmentTask:
    """:class:`training.worker.task_api.TrainingTask` for semantic segmentation (class maps)."""

    name = "segment"
    headline = "miou"
    # The run loop's per-image class weights do not apply: this task weighs its loss per pixel.
    weighs_pixels = True

    def __init__(self) -> None:
        self.pixel_weights: list[float] | None = None  # set by build, used by compile

    # --- TrainingTask --------------------------------------------------------------------------

    def check(self, spec: RunSpec) -> str | None:
        problem = backbone_problem(
            spec, model="The segmenter", task="segmentation",
            why=", so that the stride-16 and stride-8 feature maps the head fuses line up and the class map has "
            "the input's size.",
        )
        if problem:
            return problem
        labels = list(spec.labels or [])
        if not labels or labels[0] != BACKGROUND:
            first = repr(labels[0]) if labels else "nothing"
            return f'Segmentation needs "{BACKGROUND}" as the first label (class 0, every unpainted pixel), got {first}.'
        if len(labels) < 2:
            return f'Segmentation needs at least one object class after "{BACKGROUND}".'
        if len(labels) > IGNORE:
            return f"Segmentation supports at most {IGNORE} labels (the class map is uint8 and {IGNORE} means ignore)."
        options = spec.options or {}
        output = options.get("segment_output", "class_map")
        if output not in SEGMENT_OUTPUTS:
            return f"segment_output must be one of {', '.join(repr(o) for o in SEGMENT_OUTPUTS)}, got {output!r}."
        try:
            config = SegmentConfig.from_spec(spec)
        except (TypeError, ValueError) as exc:
            return f"A segmentation option has the wrong type: {exc}."
        if not config.alpha > 0:
            return f"alpha must be positive, got {config.alpha}."
        if config.head_channels < 8:
            return f"head_channels must be at least 8, got {config.head_channels}."
        weights_problem = class_weights_problem(options.get("class_weights"), labels)
        if weights_problem:
            return weights_problem
        bad = _bad_segment(spec.items, len(labels))
        if bad:
            return bad
        train = [item for item in spec.items if item.split == "train"]
        if train and not any(getattr(item, "segments", None) for item in train):
            return "No training image has a segment: a segmenter cannot learn without painted objects."
        return None

    def build(self, spec: RunSpec) -> tuple[Any, Any]:
        from training.worker.segment_model import SegmentModelConfig, build_models

        config = SegmentConfig.from_spec(spec)
        self.pixel_weights = loss_class_weights(spec)
        if self.pixel_weights:
            named = ", ".join(f"{label} {w:.3g}" for label, w in zip(spec.labels, self.pixel_weights))
            from training.worker.data import log

            log(f"Pixel class weights of the loss: {named}.")
        return build_models(SegmentModelConfig(**asdict(config)))

    def float_outputs(self, spec: RunSpec) -> tuple[str, ...]:
        """``scores`` stays float32 in the int8 file; the uint8 ``class_map`` needs nothing (the
        converter leaves a non-float output as it is)."""
        return ("scores",) if SegmentConfig.from_spec(spec).output == "scores" else ()

    def targets(self, sample: Sample) -> dict[str, np.ndarray]:
        return {"logits": make_targets(sample)}

    def compile(self, model: Any, optimizer: Any) -> None:
        from training.worker.segment_model import compile_model

        compile_model(model, optimizer, class_weights=self.pixel_weights)

    def class_weights(self, items: Sequence[RunItem], num_classes: int) -> dict[int, float] | None:
        return None  # per-image weights do not fit a per-pixel loss (see the module doc)

    def evaluate(self, predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
        from training.worker.segment_metrics import evaluate_segmentation

        return evaluate_segmentation(predict, samples, labels)

    def plots(self, metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
        from training.worker.segment_metrics import plot_metrics

        return plot_metrics(metrics, labels, Path(folder))

    def draw(self, sample: Sample, outputs: dict[str, np.ndarray], labels: Sequence[str]) -> np.ndarray:
        from training.worker.segment_metrics import draw_class_map, predicted_class_map

        class_map = predicted_class_map({k: np.asarray(v)[None] for k, v in outputs.items()})[0]
        return draw_class_map(sample.image, class_map, len(labels))

    def output_layout(self, spec: RunSpec) -> dict[str, Any]:
        config = SegmentConfig.from_spec(spec)
        size, count = config.input_size, config.num_classes
        if config.output == "class_map":
            output = {
                "name": "class_map",
                "shape": [-1, size, size],
                "dtype": "uint8 (in every file, the int8 one included)",
                "meaning": "per pixel of the model input, the index into labels of the most likely class "
                "(0 = background); undo the letterbox to reach the original image",
            }
        else:
            output = {
                "name": "scores",
                "shape": [-1, size, size, count],
                "dtype": "float32 (in every file, the int8 one included)",
                "meaning": "per pixel of the model input, the class probabilities (softmax over the last axis, "
                "sum 1); index i is line i of labels.txt; the class map is their argmax",
            }
        return {
            "task": "segment",
            "input": {
                "name": "image",
                "shape": [-1, size, size, 3],
                "dtype": "float32 (int8 in the full-integer file, scale 1, zero point -128)",
                "meaning": f"RGB 0..255, {size}x{size}, resized as the version says (stretch or letterbox); "
                "the model rescales inside",
            },
            "outputs": [output],
            "segment_output": config.output,
            "background_class": 0,
            "head": "LR-ASPP (MobileNetV3 paper, section 6.4) on the stride-16 and stride-8 features, "
            "upsampled bilinearly to the input size",
            "float_outputs": list(self.float_outputs(spec)),
        }


MAX_PIXEL_WEIGHT = 50.0


def pixel_frequencies(items: Sequence[RunItem], num_classes: int, size: int, mode: str) -> np.ndarray:
    """Each class's share of the counted (not :data:`IGNORE`) pixels of ``items`` at the input size."""
    from training.worker.data import class_map, plan_resize

    counts = np.zeros(num_classes, np.float64)
    for item in items:
        plan = plan_resize(mode, int(item.width), int(item.height), size)
        painted = class_map(item, plan, int(item.width), int(item.height))
        counts += np.bincount(painted[painted != IGNORE].ravel(), minlength=num_classes)[:num_classes]
    total = counts.sum()
    return counts / total if total else counts


def class_weights_problem(option: Any, labels: Sequence[str]) -> str | None:
    """Why ``options.class_weights`` cannot weigh this run's classes, in one sentence (None: it can)."""
    if isinstance(option, dict):
        unknown = next((key for key in option if key not in labels), None)
        return None if unknown is None else f"options.class_weights names {unknown!r}, which is not one of the labels."
    if option and option not in (True, "balanced", "auto"):
        return 'options.class_weights must be true, "balanced" or a mapping of label to weight.'
    return None


def loss_class_weights(spec: RunSpec) -> list[float] | None:
    """``options.class_weights`` as one weight per class (see the module doc), or None."""
    option = (spec.options or {}).get("class_weights")
    if not option:
        return None
    labels = list(spec.labels)
    problem = class_weights_problem(option, labels)
    if problem:
        raise ValueError(problem)
    if isinstance(option, dict):
        return [float(option.get(label, 1.0)) for label in labels]
    train = [item for item in spec.items if item.split == "train"]
    share = pixel_frequencies(train, len(labels), int(spec.input_size), spec.resize)
    weights = np.where(share > 0, 1.0 / (len(labels) * np.maximum(share, 1e-12)), 1.0)
    return [round(float(w), 6) for w in np.minimum(weights, MAX_PIXEL_WEIGHT)]


def make_targets(sample: Sample) -> np.ndarray:
    """The loss target of a sample: its class map, uint8 ``(S, S)`` (255 = ignore)."""
    mask = getattr(sample, "mask", None)
    if mask is None:
        raise ValueError(
            f"The sample of {Path(sample.item.path).name or 'an image'} has no class map: "
            "segmentation needs the items' segments painted into Sample.mask."
        )
    mask = np.asarray(mask)
    size = sample.image.shape[:2]
    if mask.shape != size:
        raise ValueError(f"A class map of shape {mask.shape} does not match its {size[1]}x{size[0]} image.")
    return mask.astype(np.uint8)


def _bad_segment(items: Sequence[RunItem], num_classes: int) -> str | None:
    """A sentence about the first malformed segment (class index or kind), or None."""
    for item in items:
        for segment in getattr(item, "segments", None) or []:
            name = Path(item.path).name
            if not isinstance(segment, list | tuple) or len(segment) != 3:
                return f"A segment of {name} is not [class index, kind, geometry]."
            index, kind = segment[0], segment[1]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_classes:
                return f"A segment of {name} has class index {index!r}, outside the labels' 0..{num_classes - 1}."
            if kind not in SEGMENT_KINDS:
                return f"A segment of {name} has kind {kind!r}; a segment is a polygon or a mask."
    return None
