"""What ships: every exported variant, measured as a file, and the model card that describes them.

* :func:`export_variants` — :func:`export.model_formats.convert.export_model` with the run's
  calibration images (train images preprocessed exactly as at inference: resized, float32 RGB
  0..255, batches of one) and the task's ``float_outputs``; a task with ``coreml = True`` (a
  classifier) also gets a Core ML ``.mlpackage`` with the run's labels. ``spec.export["variants"]``
  may narrow the list (``"keras"``, ``"onnx"``, ``"coreml"``, TFLite variant names or
  ``"tflite-<variant>"``; the SavedModel is always written, the TFLite and Core ML files are
  converted from it).
* :func:`measure_variant` — for ``.tflite`` and ``.onnx`` files: median latency at 1 and 2 threads
  (batch 1, ``spec.export["latency_runs"]`` runs, :func:`measure.measure_latency`) and the task's
  metrics computed by running *that file* on the evaluation split (:class:`measure.FileRunner`
  wrapped as a :data:`~training.worker.task_api.Predict`, scored by ``task.evaluate``: the same
  code that scores the Keras model). ``keras`` and ``saved_model`` variants hold the very graph and
  weights of the Keras model: they get its metrics and no latency (Keras's eager or ``tf.function``
  timing is not what any app would see, and a figure there would compete with the files' in the
  recommendation). A ``coreml`` file cannot run here (Core ML is Apple-only): no latency and no
  metrics, only the notes of its structural check.
* :func:`recommend` — a variant per deployment target from the measured figures.
* :func:`model_card` — the card embedded in each ``.tflite`` (``metadata.embed_metadata``) and
  sent in ``DONE``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.model_formats.records import TFLITE_VARIANTS, VariantRecord

from .schedule import SpecError

INPUT_RANGE = "float32 RGB 0..255 (int8 file: int8 with the file's scale/zero point)"
CPU_TARGET = "CPU (this machine's class)"
NPU_TARGET = "NPU/DSP"
GPU_TARGET = "Mobile GPU (delegate)"
SERVER_TARGET = "Server/desktop (ONNX Runtime)"
POINT = 0.01  # one point of a 0..1 metric


def jsonable(value: Any) -> Any:
    """Numpy scalars and arrays, tuples and paths as plain JSON values (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _variant_name(name: str) -> str:
    """``"tflite-int8"`` -> ``"int8"``, ``"onnx-float32"`` -> ``"onnx"``, ``"coreml-float16"`` -> ``"coreml"``."""
    if name.startswith("coreml"):
        return "coreml" if name in ("coreml", "coreml-float16") else name
    return name.removeprefix("tflite-").removesuffix("-float32")


def variant_options(option: Any) -> dict[str, Any]:
    """``spec.export["variants"]`` -> ``export_model`` keyword arguments (None: everything), plus
    ``"coreml"``: whether the Core ML file is wanted (only a task that makes one reads it)."""
    if option is None:
        return {}
    if not isinstance(option, list | tuple) or not all(isinstance(v, str) for v in option):
        raise SpecError('export.variants must be a list such as ["keras", "float32", "int8", "onnx"].')
    wanted = {_variant_name(v) for v in option}
    known = {"keras", "saved_model", "onnx", "coreml", *TFLITE_VARIANTS}
    unknown = sorted(wanted - known)
    if unknown:
        raise SpecError(f"Unknown export variants {unknown}; choose from {sorted(known)}.")
    return {
        "keras_file": "keras" in wanted,
        "onnx": "onnx" in wanted,
        "tflite_variants": [v for v in TFLITE_VARIANTS if v in wanted],
        "coreml": "coreml" in wanted,
    }


def export_variants(
    model: Any,
    out_dir: Path,
    *,
    representative: list[np.ndarray],
    float_outputs: Sequence[str],
    float_layers: Sequence[str] = (),
    variants: Any = None,
    coreml_labels: Sequence[str] | None = None,
) -> list[VariantRecord]:
    """Every variant of ``model`` in ``out_dir``; ``coreml_labels`` (a classifier's labels) adds
    the Core ML file unless ``variants`` leaves ``"coreml"`` out."""
    from export.model_formats.convert import export_model

    options = variant_options(variants)
    wants_coreml = options.pop("coreml", True)
    return export_model(
        model,
        out_dir,
        representative_data=representative or None,
        float_outputs=tuple(float_outputs),
        float_layers=tuple(float_layers),
        coreml_labels=list(coreml_labels) if coreml_labels is not None and wants_coreml else None,
        **options,
    )


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The single numbers of a metrics dict (for the card: no matrices, no per-class tables)."""
    return {k: jsonable(v) for k, v in metrics.items() if isinstance(v, int | float | np.integer | np.floating)}


def measure_variant(
    record: VariantRecord,
    *,
    evaluate: Callable[[Callable[[np.ndarray], dict[str, np.ndarray]]], dict[str, Any]],
    keras_metrics: dict[str, Any],
    threads: int,
    latency_runs: int,
) -> dict[str, Any]:
    """``latency_ms`` and ``metrics`` of one variant (see the module doc), plus details."""
    if not record.ok or record.path is None:
        return {"latency_ms": {}, "metrics": {}, "latency": []}
    if record.format in ("keras", "saved_model"):
        return {"latency_ms": {}, "metrics": dict(keras_metrics), "latency": [], "metrics_from": "keras model"}
    if record.format == "coreml":  # Core ML runs on Apple OSes only: checked structurally at export
        return {"latency_ms": {}, "metrics": {}, "latency": [], "metrics_from": "not run (needs macOS)"}
    from export.model_formats.measure import FileRunner, measure_latency

    figures = measure_latency(record.path, threads=(1, 2), runs=max(1, int(latency_runs)))
    runner = FileRunner(record.path, threads=threads)
    metrics = evaluate(lambda images: runner(images))
    return {
        "latency_ms": {str(f.threads): round(f.median_ms, 4) for f in figures},
        "metrics": metrics,
        "latency": [f.as_dict() for f in figures],
        "metrics_from": "this file",
    }


def _metric(entry: dict[str, Any], headline: str) -> float | None:
    value = (entry.get("metrics") or {}).get(headline)
    return float(value) if isinstance(value, int | float) else None


def _latency(entry: dict[str, Any], threads: str = "1") -> float | None:
    value = (entry.get("latency_ms") or {}).get(threads)
    return float(value) if isinstance(value, int | float) else None


def recommend(
    entries: Sequence[dict[str, Any]], headline: str, float_layers: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """A variant per target, from the measured figures of ``entries`` (ARTIFACT payloads with
    a ``key``).

    * CPU (this machine's class): the fastest file (median at 1 thread) whose headline metric is
      within one point of the float32 file's;
    * NPU/DSP: the full-integer int8 file (integer accelerators run nothing else), with a note
      when it measured slower than float32 here or lost more than a point, and when the task keeps
      ``float_layers`` float32 inside it (they run on the CPU after the accelerator);
    * Mobile GPU: the float16 file (GPU delegates compute in float16; half the size);
    * Server/desktop: the ONNX file (ONNX Runtime, or TensorRT / OpenVINO from it).
    """
    ok = {e["key"]: e for e in entries if e.get("status") == "ok"}
    reference = ok.get("tflite-float32") or ok.get("keras-float32")
    ref_metric = _metric(reference, headline) if reference else None
    out: dict[str, dict[str, Any]] = {}

    files = [e for e in ok.values() if e["format"] in ("tflite", "onnx") and _latency(e) is not None]
    if files:
        close = [e for e in files if ref_metric is None or (_metric(e, headline) or 0.0) >= ref_metric - POINT]
        pool = close or files
        best = min(pool, key=lambda e: (_latency(e), e.get("size_bytes") or 0))
        metric = _metric(best, headline)
        why = f"the fastest file here ({_latency(best):.3f} ms at 1 thread)"
        if ref_metric is not None and metric is not None:
            why += f" whose {headline} ({metric:.4f}) is within 1 point of float32 ({ref_metric:.4f})"
        if not close:
            why += f"; no file is within 1 point of float32's {headline}"
        out[CPU_TARGET] = {"variant": best["key"], "path": best.get("path"), "why": why}

    int8 = ok.get("tflite-int8")
    if int8:
        entry: dict[str, Any] = {
            "variant": "tflite-int8",
            "path": int8.get("path"),
            "why": "NPUs and DSPs (NNAPI, Qualcomm Hexagon, Edge TPU, ...) run full-integer models only: "
            "int8 input, weights and activations",
        }
        notes = []
        if float_layers:
            notes.append(
                f"its {', '.join(float_layers)} stays float32 inside the file (int8 would cost accuracy): on an "
                "accelerator that part runs on the CPU after it, as an SSD's post-processing does"
            )
        f32 = ok.get("tflite-float32")
        if f32 and _latency(int8) is not None and _latency(f32) is not None and _latency(int8) > _latency(f32):
            notes.append(
                f"on this machine the int8 file ran slower than float32 ({_latency(int8):.3f} vs "
                f"{_latency(f32):.3f} ms at 1 thread): desktop CPUs run float32 through XNNPACK very well, and "
                "this says nothing about an NPU; measure on the target device"
            )
        int8_metric = _metric(int8, headline)
        if ref_metric is not None and int8_metric is not None and int8_metric < ref_metric - POINT:
            notes.append(
                f"its {headline} is {100 * (ref_metric - int8_metric):.1f} points below float32 "
                "(calibrate with more, more varied train images)"
            )
        if notes:
            entry["note"] = "; ".join(notes)
        out[NPU_TARGET] = entry
    else:
        failed = next((e for e in entries if e.get("key") == "tflite-int8"), None)
        out[NPU_TARGET] = {
            "variant": None,
            "why": "no full-integer int8 file" + (f": {failed.get('error')}" if failed and failed.get("error") else ""),
        }
    if "tflite-float16" in ok:
        out[GPU_TARGET] = {
            "variant": "tflite-float16",
            "path": ok["tflite-float16"].get("path"),
            "why": "float16 weights: GPU delegates compute in float16 anyway, and the file is half float32's size",
        }
    if "onnx-float32" in ok:
        out[SERVER_TARGET] = {
            "variant": "onnx-float32",
            "path": ok["onnx-float32"].get("path"),
            "why": "ONNX Runtime on servers and desktops (and TensorRT / OpenVINO, which read ONNX)",
        }
    return out


def card_variants(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "key": e["key"],
            "format": e["format"],
            "variant": e["variant"],
            "status": e["status"],
            "path": e.get("path"),
            "size_bytes": e.get("size_bytes"),
            "latency_ms": e.get("latency_ms") or {},
            "metrics": scalar_metrics(e.get("metrics") or {}),
            **({"error": e["error"]} if e.get("error") else {}),
            **({"notes": e["notes"]} if e.get("notes") else {}),
        }
        for e in entries
    ]
