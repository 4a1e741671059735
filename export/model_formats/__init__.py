"""Model formats: a trained Keras model in, the files that ship (and their figures) out.

Apart from ``export/dataset_formats`` (datasets in the ecosystem's formats), this package turns a
Keras 3 model into ``.keras``, SavedModel, TFLite (float32, float16, dynamic-range int8,
full-integer int8) and ONNX files, measures each file's latency, runs each file so task metrics
come from the file itself, and embeds labels and a model card in ``.tflite`` files.

Modules (pure functions; no Django anywhere):

* ``records``  — :class:`VariantRecord`, one per exported variant (no heavy imports).
* ``convert``  — :func:`export_model` (TensorFlow/Keras imported inside its functions).
* ``measure``  — :func:`measure_latency`, :func:`run_file`, :func:`describe_io` (LiteRT, onnxruntime).
* ``metadata`` — :func:`embed_metadata`, :func:`read_embedded` (standard library only).

This ``__init__`` imports only ``records``: the Django web process may import this package
(e.g. for the record type) and must never load TensorFlow or Keras by doing so. Training code
imports ``export.model_formats.convert`` / ``.measure`` explicitly, in the worker.
"""

from .records import FAILED, FORMATS, OK, TFLITE_VARIANTS, VariantRecord, path_digest

__all__ = ["FAILED", "FORMATS", "OK", "TFLITE_VARIANTS", "VariantRecord", "path_digest"]
