"""Image classification: one label per image, Keras applications backbones trained from scratch.

Backbones (``spec.architecture``), all built with ``weights=None`` (nothing is downloaded) and
``include_top=False``:

* ``mobilenet_v3_small`` / ``mobilenet_v3_large`` (``options.alpha``, ``options.minimalistic``),
  with ``include_preprocessing=False`` and a ``Rescaling(1/127.5, offset=-1)`` in front: the
  network expects -1..1;
* ``efficientnet_b0``, which has its own ``Rescaling(1/255)`` and ``Normalization`` inside: it
  takes 0..255 as is.

So every exported file takes float32 RGB 0..255. The head: global average pooling, dropout
(``options.dropout``, 0.2), and a softmax ``Dense`` named ``scores``: the model's one output is
``{"scores": (B, C)}``, class probabilities in label order.

Metrics (:meth:`ClassifyTask.evaluate`): accuracy (the headline), top-5 accuracy when there are
more than five classes, per-class precision / recall / F1 / support, macro F1, and the confusion
matrix (rows: true class, columns: predicted, in label order). The numpy code here has no
TensorFlow in it: the same function scores the Keras model and every exported file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec

from .task_api import Predict, Sample

ARCHITECTURES = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
MIN_INPUT = 32
EVAL_BATCH = 32


def iter_batches(samples: Iterable[Sample], size: int) -> Iterable[list[Sample]]:
    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def batch_images(batch: Sequence[Sample]) -> np.ndarray:
    """A float32 batch of 0..255 RGB, exactly what the exported files take."""
    return np.stack([s.image for s in batch]).astype(np.float32)


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, top-5 (more than five classes), per-class P/R/F1, macro F1, confusion matrix."""
    count = len(labels)
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(len(y_true), -1) if len(y_true) else np.zeros((0, count))
    y_pred = scores.argmax(axis=1) if len(y_true) else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((count, count), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    total = int(len(y_true))
    metrics: dict[str, Any] = {"accuracy": float((y_true == y_pred).mean()) if total else 0.0, "images": total}
    if count > 5 and total:
        top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        metrics["top5_accuracy"] = float((top5 == y_true[:, None]).any(axis=1).mean())
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = int(confusion[i, i])
        predicted = int(confusion[:, i].sum())
        actual = int(confusion[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        if actual:
            f1s.append(f1)
    metrics["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = confusion.tolist()
    return metrics


class ClassifyTask:
    name = "classify"
    headline = "accuracy"
    float_outputs: tuple[str, ...] = ()  # the int8 file's class scores may be int8
    coreml = True  # also ship a Core ML classifier (.mlpackage) with the run's labels

    # --- checks and model ------------------------------------------------------------------
    def check(self, spec: RunSpec) -> str | None:
        if spec.architecture not in ARCHITECTURES:
            return f"Unknown classification architecture {spec.architecture!r}; choose one of {', '.join(ARCHITECTURES)}."
        if spec.input_size < MIN_INPUT:
            return (
                f"The input size {spec.input_size}px is too small for {spec.architecture}: the Keras application "
                f"backbones need at least {MIN_INPUT}px, because they halve the image five times (a stride of 32) "
                "and a smaller image has no pixels left for the last stage."
            )
        if len(spec.labels) < 2:
            return "Classification needs at least two classes."
        bad = [item for item in spec.items if item.label is None or not 0 <= int(item.label) < len(spec.labels)]
        if bad:
            return (
                f"{len(bad)} image(s) have no class or a class index outside 0..{len(spec.labels) - 1} "
                f"(the first: {Path(bad[0].path).name}); every classification image needs exactly one tag."
            )
        alpha = (spec.options or {}).get("alpha", 1.0)
        if not isinstance(alpha, int | float) or not 0 < float(alpha) <= 2:
            return f"options.alpha must be a number in (0, 2], got {alpha!r}."
        return None

    def build(self, spec: RunSpec) -> tuple[Any, Any]:
        import keras

        options = spec.options or {}
        size = int(spec.input_size)
        shape = (size, size, 3)
        inputs = keras.Input(shape, name="image", dtype="float32")
        if spec.architecture == "efficientnet_b0":
            backbone = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=shape)
            x = backbone(inputs)
        else:
            builder = (
                keras.applications.MobileNetV3Small
                if spec.architecture == "mobilenet_v3_small"
                else keras.applications.MobileNetV3Large
            )
            backbone = builder(
                input_shape=shape,
                include_top=False,
                weights=None,
                include_preprocessing=False,
                alpha=float(options.get("alpha", 1.0)),
                minimalistic=bool(options.get("minimalistic", False)),
            )
            x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
            x = backbone(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dropout(float(options.get("dropout", 0.2)), name="dropout")(x)
        scores = keras.layers.Dense(len(spec.labels), activation="softmax", name="scores")(x)
        train_model = keras.Model(inputs, {"scores": scores}, name=f"classify_{spec.architecture}")
        # The same layers, uncompiled: what ships (its .keras file carries no optimizer state).
        export_model = keras.Model(inputs, {"scores": scores}, name=f"classify_{spec.architecture}")
        return train_model, export_model

    def targets(self, sample: Sample) -> dict[str, np.ndarray]:
        return {"scores": np.asarray(sample.label, dtype=np.int32)}

    def compile(self, model: Any, optimizer: Any) -> None:
        model.compile(
            optimizer=optimizer,
            loss={"scores": "sparse_categorical_crossentropy"},
            metrics={"scores": ["accuracy"]},
            jit_compile=False,
        )

    def class_weights(self, items: Sequence[RunItem], num_classes: int) -> dict[int, float] | None:
        """"Balanced" weights ``N / (C * n_c)`` over the classes present in ``items``."""
        counts = np.bincount([int(i.label) for i in items if i.label is not None], minlength=num_classes)
        present = counts > 0
        if not present.any():
            return None
        total = counts.sum()
        return {int(c): float(total / (present.sum() * counts[c])) for c in range(num_classes) if counts[c]}

    # --- evaluation ------------------------------------------------------------------------
    def evaluate(self, predict: Predict, samples: Iterable[Sample], labels: Sequence[str]) -> dict[str, Any]:
        truths, scores = [], []
        for batch in iter_batches(samples, EVAL_BATCH):
            out = predict(batch_images(batch))
            scores.append(np.asarray(out["scores"], dtype=np.float32).reshape(len(batch), -1))
            truths.extend(int(s.label) for s in batch)
        all_scores = np.concatenate(scores) if scores else np.zeros((0, len(labels)), dtype=np.float32)
        return classification_metrics(np.asarray(truths), all_scores, labels)

    def plots(self, metrics: dict[str, Any], labels: Sequence[str], folder: Path) -> list[tuple[str, Path]]:
        from .plots import confusion_matrix_figure

        matrix = metrics.get("confusion_matrix")
        if not matrix:
            return []
        path = Path(folder) / "confusion_matrix.png"
        confusion_matrix_figure(np.asarray(matrix), labels, path, title="Confusion matrix (test)")
        return [("confusion_matrix", path)]

    def draw(self, sample: Sample, outputs: dict[str, np.ndarray], labels: Sequence[str]) -> np.ndarray:
        """The image (enlarged to at least 128 px) with the predicted class and score on a bar:
        green when right, red when wrong."""
        import cv2

        scores = np.asarray(outputs["scores"]).reshape(-1)
        predicted = int(scores.argmax())
        image = sample.image
        factor = max(1, int(np.ceil(160 / max(image.shape[:2]))))
        canvas = np.ascontiguousarray(np.repeat(np.repeat(image, factor, axis=0), factor, axis=1))
        right = sample.label is None or int(sample.label) == predicted
        colour = (40, 170, 60) if right else (210, 40, 40)
        lines = [f"{labels[predicted]} {scores[predicted]:.2f}"]
        if not right:
            lines.append(f"true: {labels[int(sample.label)]}")
        width = canvas.shape[1]
        font = cv2.FONT_HERSHEY_SIMPLEX
        scale = 0.5
        for text in lines:  # shrink until every line fits the width
            (w, _), _ = cv2.getTextSize(text, font, scale, 1)
            if w > width - 6:
                scale *= (width - 6) / w
        (_, h), base = cv2.getTextSize("Ag", font, scale, 1)
        step = h + base + 4
        cv2.rectangle(canvas, (0, 0), (width - 1, step * len(lines) + 2), colour, thickness=-1)
        for i, text in enumerate(lines):
            cv2.putText(canvas, text, (3, step * (i + 1) - base), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas

    def output_layout(self, spec: RunSpec) -> dict[str, Any]:
        return {
            "scores": {
                "shape": [None, len(spec.labels)],
                "dtype": "float32 (int8 in the int8 file: dequantize with its scale/zero point)",
                "meaning": "class probabilities (softmax, sum 1); index i is line i of labels.txt",
            }
        }
