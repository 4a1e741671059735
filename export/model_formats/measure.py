"""Measure and run exported model files *as files*: the numbers a run page shows come from the
``.tflite`` / ``.onnx`` that ships, not from the Keras model it was converted from.

* :func:`measure_latency` — median wall time of one inference (batch 1 by default) at 1 and 2
  threads, after warm-up. TFLite files run in LiteRT's ``Interpreter`` (``ai_edge_litert``), whose
  default op resolver applies the XNNPACK delegate on CPU, as an app would; ONNX files run in
  onnxruntime's CPU provider with ``intra_op_num_threads`` set. Medians because these machines
  are noisy; p90 and min are kept to show the spread.
* :func:`run_file` / :class:`FileRunner` — run a file on input batches and return float outputs
  keyed by name, so the training code computes its task metric from the file itself. An int8
  input is quantized with the input tensor's own scale and zero point (so callers always pass the
  same raw input, e.g. 0-255 RGB), and int8 outputs are dequantized with theirs.

Output names: TFLite outputs are read through the signature runner (``get_signature_runner()``),
which names them; ONNX outputs by their graph output names. Files written by
:mod:`export.model_formats.convert` carry the Keras output names (``model.output_names``) in both,
so ``run_file(...)[i]["scores"]`` is the Keras output ``scores`` whatever the format. Files from
elsewhere keep their own names (often ``output_0``...).

Runtimes are imported inside the functions (no TensorFlow is needed at all here).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_THREADS: tuple[int, ...] = (1, 2)
DEFAULT_RUNS = 50
DEFAULT_WARMUP = 5

_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


@dataclass(frozen=True)
class Latency:
    """Wall time of one inference of one file at one thread count."""

    runtime: str  # "litert" or "onnxruntime"
    threads: int
    batch_size: int
    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure_latency(
    path: str | Path,
    *,
    threads: Sequence[int] = DEFAULT_THREADS,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    batch_size: int = 1,
    seed: int = 0,
) -> list[Latency]:
    """Latency of the file at each thread count: ``runs`` timed inferences after ``warmup``.

    Inputs are random values of the input's dtype and shape (dynamic dimensions: the batch is
    ``batch_size``, others 1): a CNN's time does not depend on pixel values. Each thread count
    gets a fresh interpreter/session, as an app with that setting would.
    """
    if runs < 1 or warmup < 0:
        raise ValueError("runs must be >= 1 and warmup >= 0")
    path = Path(path)
    kind = _kind(path)
    rng = np.random.default_rng(seed)
    results = []
    for count in threads:
        if kind == "tflite":
            invoke = _tflite_invoker(path, count, batch_size, rng)
        else:
            invoke = _onnx_invoker(path, count, batch_size, rng)
        for _ in range(warmup):
            invoke()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            invoke()
            times.append((time.perf_counter() - start) * 1000.0)
        times.sort()
        results.append(
            Latency(
                runtime="litert" if kind == "tflite" else "onnxruntime",
                threads=count,
                batch_size=batch_size,
                runs=runs,
                median_ms=statistics.median(times),
                p90_ms=times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))],
                min_ms=times[0],
            )
        )
    return results


def run_file(path: str | Path, batches: Iterable[Any], *, threads: int | None = None) -> list[dict[str, np.ndarray]]:
    """Run the exported file on each batch; one ``{output name: float array}`` per batch.

    A batch is an ndarray for a one-input model, or a ``{input name: ndarray}`` mapping. Pass the
    raw input the Keras model takes (e.g. 0-255 RGB float or uint8): int8 inputs are quantized
    here. For many batches, :class:`FileRunner` avoids holding every output at once.
    """
    runner = FileRunner(path, threads=threads)
    return [runner(batch) for batch in batches]


class FileRunner:
    """One loaded ``.tflite`` or ``.onnx`` file, callable on a batch (see :func:`run_file`)."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.kind = _kind(self.path)
        threads = threads or min(4, os.cpu_count() or 1)
        if self.kind == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self._runner = self._interpreter.get_signature_runner()
            self._inputs: dict[str, Any] = self._runner.get_input_details()
            self._outputs: dict[str, Any] = self._runner.get_output_details()
        else:
            self._session = _onnx_session(self.path, threads)
            self._onnx_inputs = {i.name: _ONNX_DTYPES.get(i.type, np.float32) for i in self._session.get_inputs()}
            self._onnx_outputs = [o.name for o in self._session.get_outputs()]

    @property
    def input_names(self) -> list[str]:
        return list(self._inputs) if self.kind == "tflite" else list(self._onnx_inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs) if self.kind == "tflite" else list(self._onnx_outputs)

    def __call__(self, batch: Any) -> dict[str, np.ndarray]:
        feeds = self._feeds(batch)
        if self.kind == "onnx":
            values = self._session.run(None, {k: np.asarray(v, dtype=self._onnx_inputs[k]) for k, v in feeds.items()})
            return {name: np.asarray(value) for name, value in zip(self._onnx_outputs, values)}
        quantized = {name: quantize(value, self._inputs[name]) for name, value in feeds.items()}
        raw = self._runner(**quantized)
        return {name: dequantize(np.array(raw[name]), self._outputs[name]) for name in self._outputs}

    def _feeds(self, batch: Any) -> dict[str, np.ndarray]:
        names = self.input_names
        if isinstance(batch, Mapping):
            missing = set(names) - set(batch)
            if missing:
                raise ValueError(f"{self.path.name} needs inputs {names}; missing {sorted(missing)}")
            return {name: np.asarray(batch[name]) for name in names}
        if len(names) != 1:
            raise ValueError(f"{self.path.name} has inputs {names}: pass a batch as a mapping of name to array")
        return {names[0]: np.asarray(batch)}


def quantize(values: np.ndarray, details: Mapping[str, Any]) -> np.ndarray:
    """Real values -> the tensor's dtype. Integer tensors with a scale are quantized with it
    (``round(x / scale) + zero_point``, clipped); data already of the tensor's dtype passes as is."""
    dtype = np.dtype(details["dtype"])
    values = np.asarray(values)
    if values.dtype == dtype:
        return values
    scale, zero_point = _quant_params(details, values.ndim)
    if scale is None or not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    info = np.iinfo(dtype)
    quantized = np.round(values.astype(np.float32) / scale) + zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, details: Mapping[str, Any]) -> np.ndarray:
    """The tensor's values as float32: integer tensors with a scale are dequantized with it."""
    scale, zero_point = _quant_params(details, values.ndim)
    if scale is None or not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32, copy=False) if np.issubdtype(values.dtype, np.floating) else values
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _quant_params(details: Mapping[str, Any], ndim: int) -> tuple[Any, Any]:
    """(scale, zero_point) broadcastable to the tensor, or (None, None) if not quantized."""
    params = details.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float32)
    zero_points = np.asarray(params.get("zero_points", []), dtype=np.float32)
    if scales.size == 0 or not np.any(scales):
        return None, None
    if scales.size == 1:
        return float(scales[0]), float(zero_points[0]) if zero_points.size else 0.0
    axis = int(params.get("quantized_dimension", 0))
    shape = [1] * ndim
    shape[axis] = scales.size
    return scales.reshape(shape), (zero_points if zero_points.size else np.zeros_like(scales)).reshape(shape)


def describe_io(path: str | Path) -> dict[str, list[dict[str, object]]]:
    """Inputs and outputs of a file (name, shape with -1 for dynamic, dtype, scale, zero point),
    in JSON-ready form for a model card: what an app developer must feed and will get."""
    path = Path(path)
    if _kind(path) == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()

        def tensors(details: Mapping[str, Any]) -> list[dict[str, object]]:
            found = []
            for name, d in details.items():
                scale, zero_point = d.get("quantization", (0.0, 0))
                found.append(
                    {
                        "name": name,
                        "shape": [int(x) for x in d["shape_signature"]],
                        "dtype": np.dtype(d["dtype"]).name,
                        "scale": float(scale),
                        "zero_point": int(zero_point),
                    }
                )
            return found

        return {"inputs": tensors(runner.get_input_details()), "outputs": tensors(runner.get_output_details())}
    session = _onnx_session(path, 1)

    def values(args: Any) -> list[dict[str, object]]:
        return [
            {
                "name": a.name,
                "shape": [d if isinstance(d, int) else -1 for d in a.shape],
                "dtype": np.dtype(_ONNX_DTYPES.get(a.type, np.float32)).name,
            }
            for a in args
        ]

    return {"inputs": values(session.get_inputs()), "outputs": values(session.get_outputs())}


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return "tflite"
    if suffix == ".onnx":
        return "onnx"
    raise ValueError(f"{path.name}: only .tflite and .onnx files can be measured or run here")


def _onnx_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _random_input(shape: Sequence[int], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    return (rng.random(size=shape) * 255.0).astype(dtype)


def _concrete(shape: Sequence[Any], batch_size: int) -> list[int]:
    return [
        int(d) if isinstance(d, int | np.integer) and d > 0 else (batch_size if i == 0 else 1)
        for i, d in enumerate(shape)
    ]


def _tflite_invoker(path: Path, threads: int, batch_size: int, rng: np.random.Generator) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    details = interpreter.get_input_details()
    for d in details:
        shape = _concrete(list(d["shape_signature"]), batch_size)
        if list(d["shape"]) != shape:
            interpreter.resize_tensor_input(d["index"], shape)
    interpreter.allocate_tensors()
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], _random_input(list(d["shape"]), d["dtype"], rng))
    return interpreter.invoke


def _onnx_invoker(path: Path, threads: int, batch_size: int, rng: np.random.Generator) -> Any:
    session = _onnx_session(path, threads)
    feeds = {
        i.name: _random_input(_concrete(i.shape, batch_size), _ONNX_DTYPES.get(i.type, np.float32), rng)
        for i in session.get_inputs()
    }
    return lambda: session.run(None, feeds)
