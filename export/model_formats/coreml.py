"""The Core ML variant of a classifier: the exported SavedModel -> an ML Program ``.mlpackage``.

Checked with coremltools 9.0, TensorFlow 2.21 and Keras 3.15 on Linux x86_64. coremltools warns
on import that it was tested with TensorFlow up to 2.12 only; this project's classifiers
(MobileNetV3 Small/Large, EfficientNet-B0) convert all the same.

Why the conversion goes this way:

* ``ct.convert(saved_model_dir)`` fails with "Only a single concrete function is supported": a
  Keras 3 SavedModel (``model.export(..., format="tf_saved_model")``) has two signatures,
  ``serve`` and ``serving_default``, and coremltools takes all of them. So the SavedModel is
  loaded with ``tf.saved_model.load`` and only its ``serving_default`` concrete function is
  passed. The loaded object must stay referenced until ``ct.convert`` returns, or TensorFlow
  frees the variables the function reads ("Called a function referencing variables which have
  been deleted", tensorflow#37615).
* The SavedModel is what every other variant is converted from, so the Core ML file holds the
  same graph (no second trace of the Keras model, which coremltools handles poorly for Keras 3).
* The preprocessing is inside the model, so the Core ML input takes float32 RGB 0..255 as is,
  ``(batch, size, size, 3)``; with ``image_input`` it is a Core ML image (scale 1, bias 0).
* ``classifier_config`` makes it a Core ML classifier: the outputs are ``classLabel`` (the top
  class) and ``classLabel_probs`` (label -> probability), not the Keras ``scores`` tensor.
* Weights and compute are float16 by default (what the Neural Engine and GPU run); iOS 15 /
  macOS 12 is the oldest target that reads ML Programs.

Core ML runs only on Apple OSes. Here the written file is checked structurally
(:func:`check_coreml`: the spec is read with ``skip_model_load=True``), never run: its latency and
accuracy need macOS.

coremltools, TensorFlow and numpy are imported inside the functions only (the web process may
import this package and must not load TensorFlow).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NOTES = "Core ML: checked structurally here (input, classifier outputs, labels), not run; latency and accuracy: needs macOS"
INPUT_NAME = "image"


def write_coreml(
    saved_model_dir: str | Path,
    out_path: str | Path,
    labels: Sequence[str],
    input_size: int,
    *,
    input_name: str = INPUT_NAME,
    image_input: bool = False,
    float16: bool = True,
    batch: int = 1,
) -> tuple[Path, str]:
    """Convert a classifier SavedModel into an ML Program ``.mlpackage`` (a folder) at ``out_path``.

    ``labels`` are the class names in output order; ``input_size`` the square input side in
    pixels. Returns ``(path, notes)``; raises on any failure (``convert`` turns that into a
    failed record). The written file is checked with :func:`check_coreml` before returning.
    """
    import shutil

    import coremltools as ct
    import numpy as np
    import tensorflow as tf

    labels = [str(label) for label in labels]
    out = Path(out_path)
    if out.exists():
        shutil.rmtree(out)
    loaded = tf.saved_model.load(str(saved_model_dir))  # referenced until ct.convert returns
    function = loaded.signatures["serving_default"]
    _check_classes(function, len(labels))
    shape = (int(batch), int(input_size), int(input_size), 3)
    inputs: list[Any]
    if image_input:
        inputs = [ct.ImageType(name=input_name, shape=shape, scale=1.0, bias=[0.0, 0.0, 0.0], color_layout=ct.colorlayout.RGB)]
    else:
        inputs = [ct.TensorType(name=input_name, shape=shape, dtype=np.float32)]
    mlmodel = ct.convert(
        [function],
        source="tensorflow",
        convert_to="mlprogram",
        inputs=inputs,
        classifier_config=ct.ClassifierConfig(labels),
        compute_precision=ct.precision.FLOAT16 if float16 else ct.precision.FLOAT32,
        minimum_deployment_target=ct.target.iOS15,
    )
    mlmodel.short_description = (
        f"Image classifier, {len(labels)} classes; input RGB 0..255, {input_size}x{input_size}"
    )
    mlmodel.user_defined_metadata["labels"] = json.dumps(labels)
    mlmodel.save(str(out))
    del loaded
    check_coreml(out, labels, input_size, input_name=input_name, image_input=image_input)
    return out, NOTES


def check_coreml(
    path: str | Path,
    labels: Sequence[str],
    input_size: int,
    *,
    input_name: str = INPUT_NAME,
    image_input: bool = False,
) -> dict[str, Any]:
    """Check a written ``.mlpackage`` without Core ML itself (so it works on Linux).

    It must be an ML Program with the one input ``input_name`` of ``(N, size, size, 3)`` (or a
    ``size`` x ``size`` image), be a classifier (a string label output and a probabilities
    dictionary output), and hold exactly ``labels``, in order. Raises ValueError otherwise;
    returns ``{"inputs", "outputs", "labels"}`` as found in the file.
    """
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    kind = spec.WhichOneof("Type")
    if kind != "mlProgram":
        raise ValueError(f"expected an ML Program, the file is {kind}")
    description = spec.description
    inputs = {feature.name: feature.type for feature in description.input}
    if list(inputs) != [input_name]:
        raise ValueError(f"the inputs are {list(inputs)}, expected [{input_name!r}]")
    feature = inputs[input_name]
    if image_input:
        image = feature.imageType
        if feature.WhichOneof("Type") != "imageType" or (image.width, image.height) != (input_size, input_size):
            raise ValueError(f"the input is not a {input_size}x{input_size} image")
    else:
        dims = [int(d) for d in feature.multiArrayType.shape]
        if feature.WhichOneof("Type") != "multiArrayType" or dims[1:] != [input_size, input_size, 3]:
            raise ValueError(f"the input shape is {dims}, expected [N, {input_size}, {input_size}, 3]")
    outputs = {output.name: output.type.WhichOneof("Type") for output in description.output}
    label_name, probs_name = description.predictedFeatureName, description.predictedProbabilitiesName
    if outputs.get(label_name) != "stringType" or outputs.get(probs_name) != "dictionaryType":
        raise ValueError(f"not a classifier: the outputs are {outputs}")
    classes = _file_classes(spec)
    if classes != list(labels):
        raise ValueError(f"the class labels in the file {classes} differ from {list(labels)}")
    return {"inputs": list(inputs), "outputs": outputs, "labels": classes}


def _check_classes(function: Any, count: int) -> None:
    """The signature has one output whose last dimension is the number of labels."""
    outputs = function.structured_outputs
    if len(outputs) != 1:
        raise ValueError(f"a Core ML classifier needs a model with one output, this one has {sorted(outputs)}")
    (tensor,) = outputs.values()
    last = tensor.shape[-1] if tensor.shape.rank else None
    if last is not None and int(last) != count:
        raise ValueError(f"{count} labels for a model output of {int(last)} classes")


def _file_classes(spec: Any) -> list[str]:
    """The class names in the ML Program's ``classify`` op (where ClassifierConfig puts them)."""
    classes: list[str] = []
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type != "classify":
                    continue
                for argument in op.inputs["classes"].arguments:
                    values = argument.value.immediateValue.list.values
                    classes = [value.immediateValue.tensor.strings.values[0] for value in values]
    return classes
