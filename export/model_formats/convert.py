"""Write every shipped variant of a Keras 3 model: ``.keras``, SavedModel, four TFLite files, ONNX
(and, for a classifier, a Core ML ``.mlpackage``).

Why the conversions go the way they do (Keras 3.15 / TensorFlow 2.21 / LiteRT 2.3):

* ``tf.lite.TFLiteConverter.from_keras_model`` and ``tf2onnx.convert.from_keras`` do not work with
  Keras 3 models (tensorflow#63867, tensorflow-onnx#2348). So the model is first exported as a
  SavedModel with ``model.export(path, format="tf_saved_model")`` (the forward pass only, the
  ``serving_default`` signature) and every TFLite file is converted *from that SavedModel*.
* ONNX is written by ``model.export(path, format="onnx")``, which on this stack works (it traces the
  same serving function and hands it to tf2onnx).
* The Core ML file (classifiers only, ``coreml_labels=...``) is converted from the SavedModel's
  ``serving_default`` function by coremltools (:mod:`export.model_formats.coreml` says why that
  way). It is checked structurally only: Core ML runs on Apple OSes alone.
* Every TFLite conversion allows only ``TFLITE_BUILTINS`` (plus ``TFLITE_BUILTINS_INT8`` for the
  full-integer file). A model that would need a TF Select ("Flex") op therefore fails to convert
  instead of silently producing a file that phones cannot run without the 10+ MB Flex delegate.
* ``float_layers`` (a pose model's decode) keeps chosen layers float32 inside the int8 file. The
  converter has no public switch for that, so the file is made the way TFLite's own selective
  quantization (``tf.lite.experimental.QuantizationDebugger``) makes it: a calibrate-only
  conversion, then ``tensorflow.lite.python.convert.mlir_quantize`` with the layers' ops on its
  deny list. Both are internal to TensorFlow, pinned here with it.
* One variant failing never stops the others: it gets a ``failed`` record whose ``error`` is the
  converter's reason in one line (:func:`failure_reason`).

Output names (what :func:`export.model_formats.measure.run_file` returns keys by): the stable
name of an output is its Keras name, ``model.output_names[i]``. ``model.export`` names the
SavedModel signature outputs ``output_0, output_1, ...`` in the order of the model's (flattened)
outputs; this module renames them positionally to the Keras names inside the written TFLite
signature and the ONNX graph outputs, and checks that each renamed output has the shape of the
Keras output it is named after, so a mix-up fails loudly instead of swapping boxes and scores.

TensorFlow, Keras, LiteRT and ONNX are imported inside the functions only: importing this module
costs nothing, so code that merely mentions it (types, task registries) stays light.
"""

from __future__ import annotations

import functools
import itertools
import re
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .records import TFLITE_VARIANTS, VariantName, VariantRecord, failed_record, ok_record

DEFAULT_OPSET = 17
"""ONNX opset written by default: >= 13 (per-axis quantization, modern Resize), read by every
current onnxruntime, and within what tf2onnx 1.17 emits (<= 18)."""

Batch = Any  # an ndarray (one input), a sequence of ndarrays (inputs in order) or a name->ndarray map
RepresentativeData = Iterable[Batch] | Callable[[], Iterable[Batch]]


def export_model(
    model: Any,
    out_dir: str | Path,
    *,
    representative_data: RepresentativeData | None = None,
    float_outputs: Collection[str] = (),
    float_layers: Collection[str] = (),
    integer_only: bool = False,
    stem: str = "model",
    keras_file: bool = True,
    tflite_variants: Sequence[VariantName] = TFLITE_VARIANTS,
    onnx: bool = True,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    input_signature: Any = None,
    coreml_labels: Sequence[str] | None = None,
) -> list[VariantRecord]:
    """Write the model in every requested format and return one record per variant.

    Args:
        model: a built (called) Keras 3 model. Its preprocessing should be inside it (e.g. a
            ``Rescaling(1/255)`` layer) so that every file takes the same raw input.
        out_dir: folder for the files (created). Names: ``{stem}.keras``,
            ``{stem}_saved_model/``, ``{stem}_{variant}.tflite``, ``{stem}.onnx``,
            ``{stem}.mlpackage/``.
        representative_data: calibration input for the full-integer ``int8`` file: an iterable
            of input batches (or a zero-argument callable returning one) with *exactly* the
            preprocessing used at inference, e.g. a few hundred training images as 0-255 float
            arrays of shape ``(n, h, w, 3)``. Without it the ``int8`` variant is ``failed``.
        float_outputs: names of outputs that must stay float32 in the ``int8`` file, e.g. a
            detector's decoded boxes and scores, which lose too much as int8 or feed float
            post-processing. The converter has one output type for all outputs, so naming *any*
            output leaves *all* outputs float32 (only ``inference_input_type`` is set to int8);
            ``run_file`` reads either kind.
        float_layers: names of Keras layers whose ops stay float32 inside the ``int8`` file
            while the rest of it is int8, e.g. a pose model's in-graph decode: it adds regressed
            offsets to cell indices and compares heatmap values, and with one int8 scale per
            tensor those sums lose a pixel or more at every step. Done by calibrating the whole
            model and quantizing it with the layer's ops on TFLite's quantizer's deny list (the
            route of ``tf.lite.experimental.QuantizationDebugger``'s selective quantization);
            the layer's input is dequantized once. Needs ``float_outputs`` (the layer's results
            are float) and cannot go with ``integer_only``.
        integer_only: for ``int8``, allow only int8 kernels (``TFLITE_BUILTINS_INT8`` alone), so
            an op without an int8 kernel fails the conversion instead of running in float
            inside the file. Off by default: such ops then stay float between int8 I/O.
        keras_file / tflite_variants / onnx: which variants to write (the SavedModel is always
            written: the TFLite files are converted from it).
        opset: ONNX opset (>= 13).
        verify: load every written file with the runtime that will run it (LiteRT, onnxruntime)
            and check its output shapes against the Keras model; a file that does not load is a
            failed variant, not a surprise at measurement time.
        input_signature: passed to ``model.export`` for models that cannot infer it.
        coreml_labels: the class names in output order of a classifier (one output of class
            probabilities, a square RGB input): write a float16 Core ML ML Program
            ``{stem}.mlpackage`` from the SavedModel, as a Core ML classifier with these labels.
            None (the default): no Core ML file. Without coremltools installed it is a failed
            record saying so.

    Raises ValueError for the caller's mistakes (unknown ``float_outputs``, bad opset); every
    conversion problem is reported in the records instead.
    """
    if opset < 13:
        raise ValueError(f"ONNX opset must be >= 13, got {opset}.")
    unknown_variants = set(tflite_variants) - set(TFLITE_VARIANTS)
    if unknown_variants:
        raise ValueError(f"Unknown TFLite variants {sorted(unknown_variants)}; choose from {list(TFLITE_VARIANTS)}.")
    names = output_names(model)
    unknown = set(float_outputs) - set(names)
    if unknown:
        raise ValueError(f"float_outputs {sorted(unknown)} are not outputs of the model (its outputs: {names}).")
    if float_layers and (integer_only or not float_outputs):
        raise ValueError("float_layers needs float_outputs and cannot go with integer_only.")
    unknown_layers = set(float_layers) - {layer.name for layer in getattr(model, "layers", [])}
    if unknown_layers:
        raise ValueError(f"float_layers {sorted(unknown_layers)} are not layers of the model.")
    shapes = _output_shapes(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records: list[VariantRecord] = []

    if keras_file:
        records.append(_attempt("keras", "float32", lambda: _write_keras(model, out / f"{stem}.keras")))

    saved_model = out / f"{stem}_saved_model"
    sm_record = _attempt("saved_model", "float32", lambda: _write_saved_model(model, saved_model, input_signature))
    records.append(sm_record)

    for variant in tflite_variants:
        path = out / f"{stem}_{variant}.tflite"
        if not sm_record.ok:
            records.append(failed_record("tflite", variant, f"needs the SavedModel, which failed: {sm_record.error}"))
            continue
        write = functools.partial(
            _write_tflite,
            saved_model,
            path,
            variant=variant,
            representative_data=representative_data,
            float_outputs=bool(float_outputs),
            float_layers=tuple(float_layers),
            integer_only=integer_only,
            names=names,
            shapes=shapes,
            verify=verify,
        )
        records.append(_attempt("tflite", variant, write))

    if onnx:
        path = out / f"{stem}.onnx"
        records.append(
            _attempt(
                "onnx",
                "float32",
                lambda: _write_onnx(
                    model, path, opset=opset, names=names, shapes=shapes, verify=verify, input_signature=input_signature
                ),
            )
        )

    if coreml_labels is not None:
        if not sm_record.ok:
            records.append(failed_record("coreml", "float16", f"needs the SavedModel, which failed: {sm_record.error}"))
        else:
            records.append(_coreml_record(model, saved_model, out / f"{stem}.mlpackage", list(coreml_labels)))
    return records


def _coreml_record(model: Any, saved_model: Path, path: Path, labels: list[str]) -> VariantRecord:
    try:
        import coremltools  # noqa: F401
    except ImportError as exc:
        return failed_record("coreml", "float16", f"coremltools is not installed ({failure_reason(exc)})")
    from .coreml import write_coreml

    return _attempt("coreml", "float16", lambda: write_coreml(saved_model, path, labels, _square_input_size(model)))


def _square_input_size(model: Any) -> int:
    """The side of the model's one square RGB input (what the Core ML input is declared as)."""
    inputs = list(getattr(model, "inputs", None) or [])
    if len(inputs) != 1:
        raise ValueError(f"a Core ML classifier needs a model with one image input, this one has {len(inputs)}")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise ValueError(f"a Core ML classifier needs a square RGB input of fixed size, this one is {shape}")
    return int(shape[1])


def output_names(model: Any) -> list[str]:
    """The stable output names: Keras's ``model.output_names`` (layer names), in output order."""
    try:
        names = list(model.output_names or [])
    except (AttributeError, ValueError):
        names = []
    return [str(name) for name in names]


def keras_predict(model: Any, batch: Batch) -> dict[str, np.ndarray]:
    """Run the Keras model on one batch and key its outputs by the stable names.

    The reference the exported files are compared against: same keys as ``run_file``.
    """
    import keras

    outputs = keras.tree.flatten(model(_keras_inputs(batch), training=False))
    names = output_names(model) or [f"output_{i}" for i in range(len(outputs))]
    return {name: np.asarray(value) for name, value in zip(names, outputs)}


def failure_reason(exc: BaseException, limit: int = 400) -> str:
    """One readable line from a conversion exception.

    Converter errors carry the whole MLIR module in their text; what a person needs is the
    first line of each structured error (``ConverterError.errors``) and the list of ops that
    would need TF Select. Other exceptions give their last meaningful line (not MLIR dumps,
    locations or blank lines).
    """
    text = str(exc)
    messages: list[str] = []
    for error in getattr(exc, "errors", None) or []:
        message = str(getattr(error, "error_message", "") or "").strip()
        first = message.splitlines()[0].strip() if message else ""
        if first and first not in messages:
            messages.append(first)
    if messages:
        reason = "; ".join(messages)
        select = re.search(r"TF Select ops: ([^\n]+)", text)
        if select:
            reason += f" (needs TF Select ops: {select.group(1).strip()})"
    else:
        reason = _last_meaningful_line(text)
    reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


_NOISE = re.compile(r"^(<unknown>:\d+: note|loc\(|%|\^bb|\"func|\}|\)|Details:|See instructions|Traceback|File \")")


def _last_meaningful_line(text: str) -> str:
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        line = re.sub(r"^<unknown>:\d+: error: ", "", line)
        if not line or _NOISE.match(line) or not re.search(r"[A-Za-z]", line) or len(line) > 500:
            continue
        lines.append(line)
    return lines[-1] if lines else ""


def _attempt(format: Any, variant: VariantName, write: Callable[[], tuple[Path, str]]) -> VariantRecord:
    """Run one conversion; any exception becomes a failed record with a short reason."""
    try:
        path, notes = write()
    except Exception as exc:  # noqa: BLE001 - every converter failure is reported, none is fatal
        return failed_record(format, variant, failure_reason(exc))
    return ok_record(format, variant, path, notes)


def _write_keras(model: Any, path: Path) -> tuple[Path, str]:
    path.unlink(missing_ok=True)
    model.save(path)
    return path, ""


def _write_saved_model(model: Any, path: Path, input_signature: Any) -> tuple[Path, str]:
    if path.exists():
        shutil.rmtree(path)
    model.export(str(path), format="tf_saved_model", verbose=False, input_signature=input_signature)
    return path, ""


def _write_tflite(
    saved_model: Path,
    path: Path,
    *,
    variant: VariantName,
    representative_data: RepresentativeData | None,
    float_outputs: bool,
    integer_only: bool,
    names: list[str],
    shapes: list[tuple[int | None, ...]] | None,
    verify: bool,
    float_layers: tuple[str, ...] = (),
) -> tuple[Path, str]:
    import tensorflow as tf

    path.unlink(missing_ok=True)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "float16":
        # Weights stored as float16 (half the size); runtimes compute in float32 (XNNPACK) or
        # float16 (GPU delegate). Input and output stay float32.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        # Weights int8, activations quantized on the fly; no calibration, float32 I/O.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        batches = _peek_batches(representative_data)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (_calibration_inputs(batch) for batch in batches)
        converter.target_spec.supported_ops = (
            [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if integer_only
            else [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        )
        converter.inference_input_type = tf.int8
        if not float_outputs:
            converter.inference_output_type = tf.int8
    if variant == "int8" and float_layers:
        content = _quantize_except(converter, float_layers)
    else:
        content = bytes(converter.convert())
    content, notes = _rename_tflite_outputs(content, names)
    path.write_bytes(content)
    if verify:
        _verify_tflite(path, names, shapes if not notes else None)
    return path, notes


def _quantize_except(converter: Any, layers: tuple[str, ...]) -> bytes:
    """Full-integer conversion with the ops of ``layers`` kept float32: calibrate the whole
    model, then quantize it with those ops on the quantizer's deny list. An op is the layers'
    when its output tensor is named in their scope, or when it writes a model output from one
    of their tensors (the layer's last op writes a tensor named after the output). Input int8,
    outputs float32 (the caller set both)."""
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize

    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # the calibrated float model, statistics attached
    calibrated = converter.convert()
    nodes = _layer_tensors(calibrated, layers)
    if not nodes:
        raise ValueError(f"no op of the layers {list(layers)} was found in the converted model")
    return bytes(mlir_quantize(
        calibrated,
        converter._experimental_disable_per_channel,
        input_data_type=tf.int8,
        output_data_type=tf.float32,
        denylisted_nodes=nodes,
    ))


def _layer_tensors(content: bytes, layers: tuple[str, ...]) -> list[str]:
    """Names of the tensors written by the ops of ``layers`` in a TFLite model (see above)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    graph = model.subgraphs[0]
    names = [_text(tensor.name) for tensor in graph.tensors]
    scope = re.compile("|".join(rf"(^|/){re.escape(name)}(_\d+)?/" for name in layers))
    chosen = {i for i, name in enumerate(names) if scope.search(name)}
    outputs = {int(i) for i in graph.outputs}
    for op in graph.operators:  # execution order: a producer comes before its consumers
        written = [int(i) for i in op.outputs]
        if any(i in outputs for i in written) and any(int(i) in chosen for i in op.inputs):
            chosen.update(written)
    # A tensor the converter fused with an output is named "output;scope/op": the quantizer knows
    # the op by either part.
    return sorted({part for i in chosen for part in [names[i], *names[i].split(";")]})


def _peek_batches(representative_data: RepresentativeData | None) -> Iterator[Batch]:
    """The calibration batches, checked to be non-empty (an empty set fails with a clear reason)."""
    if representative_data is None:
        raise ValueError("full-integer int8 needs a representative dataset (representative_data=...)")
    source = representative_data() if callable(representative_data) else representative_data
    iterator = iter(source)
    first = next(iterator, None)
    if first is None:
        raise ValueError("the representative dataset yielded no batches")
    return itertools.chain([first], iterator)


def _calibration_inputs(batch: Batch) -> list[np.ndarray] | dict[str, np.ndarray]:
    """A batch as the converter's representative_dataset wants it: a list of float32 arrays (in
    signature input order) or a dict keyed by signature input name."""
    if isinstance(batch, Mapping):
        return {str(k): np.asarray(v, dtype=np.float32) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return [np.asarray(v, dtype=np.float32) for v in batch]
    return [np.asarray(batch, dtype=np.float32)]


def _keras_inputs(batch: Batch) -> Any:
    if isinstance(batch, Mapping):
        return {str(k): np.asarray(v) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return [np.asarray(v) for v in batch]
    return np.asarray(batch)


def _positional_names(keys: Sequence[str], names: Sequence[str]) -> dict[str, str] | None:
    """Map signature output keys to Keras names: ``output_i`` -> ``names[i]`` (Keras's export
    naming), or identity when the keys already are the names. None when neither holds."""
    if set(keys) == set(names):
        return {key: key for key in keys}
    indices = [re.fullmatch(r"output_(\d+)", key) for key in keys]
    if len(keys) == len(names) and all(indices):
        positions = {key: int(match.group(1)) for key, match in zip(keys, indices) if match}
        if sorted(positions.values()) == list(range(len(names))):
            return {key: names[i] for key, i in positions.items()}
    return None


def _rename_tflite_outputs(content: bytes, names: list[str]) -> tuple[bytes, str]:
    """Rename the signature's outputs to the Keras names, so that ``get_signature_runner()``
    (ours, or an app's on the phone) returns ``{"scores": ..., "boxes": ...}`` rather than
    ``output_0``. Only the signature's name strings change; tensors and buffers are untouched.
    Returns the content unchanged (with a note) when the names cannot be matched."""
    if not names:
        return content, "model has no output names: TFLite signature outputs keep the converter's names"
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    signatures = model.signatureDefs or []
    if len(signatures) != 1:
        return content, f"{len(signatures)} signatures: outputs keep the converter's names"
    outputs = signatures[0].outputs or []
    keys = [_text(tensor_map.name) for tensor_map in outputs]
    mapping = _positional_names(keys, names)
    if mapping is None:
        return content, f"signature outputs {keys} do not match Keras outputs {names}: names kept"
    if all(mapping[key] == key for key in keys):
        return content, ""
    for tensor_map in outputs:
        tensor_map.name = mapping[_text(tensor_map.name)].encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), ""


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _verify_tflite(path: Path, names: list[str], shapes: list[tuple[int | None, ...]] | None) -> None:
    """The file loads in LiteRT (every op resolved) and each named output has its Keras shape."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    details = interpreter.get_signature_runner().get_output_details()
    if shapes is None:
        return
    for name, shape in zip(names, shapes):
        if name not in details:
            raise ValueError(f"output {name!r} is missing from the TFLite signature (it has {sorted(details)})")
        _check_shape(name, [int(d) for d in details[name]["shape_signature"]], shape)


def _check_shape(name: str, file_shape: Sequence[int | None], keras_shape: tuple[int | None, ...]) -> None:
    """Each output must have its Keras output's shape (batch and unknown dims aside)."""
    if len(file_shape) != len(keras_shape):
        raise ValueError(f"output {name!r} has rank {len(file_shape)} in the file, {len(keras_shape)} in Keras")
    for got, want in list(zip(file_shape, keras_shape))[1:]:
        if want is not None and got not in (None, -1, 0) and got != want:
            raise ValueError(f"output {name!r} has shape {list(file_shape)} in the file, {list(keras_shape)} in Keras")


def _output_shapes(model: Any) -> list[tuple[int | None, ...]] | None:
    try:
        return [tuple(output.shape) for output in model.outputs]
    except (AttributeError, TypeError, ValueError):
        return None


def _write_onnx(
    model: Any,
    path: Path,
    *,
    opset: int,
    names: list[str],
    shapes: list[tuple[int | None, ...]] | None,
    verify: bool,
    input_signature: Any,
) -> tuple[Path, str]:
    path.unlink(missing_ok=True)
    model.export(str(path), format="onnx", verbose=False, opset_version=opset, input_signature=input_signature)
    notes = _rename_onnx_outputs(path, names, shapes)
    if verify:
        import onnxruntime

        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return path, notes


def _rename_onnx_outputs(path: Path, names: list[str], shapes: list[tuple[int | None, ...]] | None) -> str:
    """Give the ONNX graph outputs (tf2onnx calls them ``Identity:0``, ``Identity_1:0``, in the
    order of the model's outputs) their Keras names, after checking each one's shape."""
    import onnx

    proto = onnx.load(str(path))
    # tf2onnx logs, rather than raises, when it cannot convert a node, and leaves the TF op in
    # the graph: the checker turns that into a failed variant here.
    onnx.checker.check_model(proto)
    graph = proto.graph
    outputs = list(graph.output)
    if not names or len(outputs) != len(names):
        return f"{len(outputs)} ONNX outputs for Keras outputs {names}: names kept"
    if shapes is not None:
        for output, name, shape in zip(outputs, names, shapes):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in output.type.tensor_type.shape.dim]
            _check_shape(name, dims, shape)
    taken = {value for node in graph.node for value in (*node.input, *node.output)}
    taken |= {value.name for value in (*graph.input, *graph.initializer)}
    graph_inputs = {value.name for value in graph.input}
    renames = {}
    for output, name in zip(outputs, names):
        if output.name == name:
            continue
        if name in taken or output.name in graph_inputs:
            return f"ONNX output name {name!r} is already used in the graph: names kept"
        renames[output.name] = name
    if not renames:
        return ""
    for node in graph.node:
        node.input[:] = [renames.get(value, value) for value in node.input]
        node.output[:] = [renames.get(value, value) for value in node.output]
    for value in (*graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    onnx.save(proto, str(path))
    return ""
