"""What the web side and a training process say to each other: the run spec, the run folder, the lines.

A run trains in a process of its own (``python -m training.worker <run folder>``), started by the
``training.run`` job through :func:`jobs.processes.subprocess_run`: TensorFlow never loads in the
web process or a Celery worker, and a run's memory goes back to the system when it ends. This
module is plain Python (no Django, no TensorFlow) so both sides import it.

**The run folder** (``$DATA_DIR/training/<run id>/``), written by the job before it starts the
process and by the process as it goes:

- ``spec.json`` — :class:`RunSpec` as JSON (the job writes it; the process only reads it);
- ``state.json`` — the process's progress so far: ``{"epochs_done": n, "history": [...],
  "best_epoch": k, "best_metric": m}``, rewritten atomically after every epoch together with
  ``checkpoint.keras`` (the model and optimizer after that epoch) and ``best.keras`` (the best
  epoch's model by the validation metric). A process that finds them resumes after
  ``epochs_done`` (a redelivered or re-queued run whose worker was killed), so a run always ends
  with ``epochs`` epochs;
- ``artifacts/`` — the exported files (``model.keras``, ``saved_model/``, ``model_float32.tflite``…);
- ``plots/`` — PNG figures (matplotlib, Agg) named in ``PLOT`` lines.

**The lines** the process prints on stdout, one event each (anything else is logged, not parsed):

- ``PROGRESS <fraction 0..1> <message>`` — within the whole run (training ~0.85, export after);
- ``RESUMED <epochs done>`` — it continues from a checkpoint;
- ``EPOCH <json>`` — one finished epoch: ``{"epoch": 1, "loss": .., "val_loss": .., "val_<metric>": ..,
  "lr": .., "seconds": ..}`` (epochs count from 1);
- ``METRICS <json>`` — the Keras model's metrics on the test split (task-specific keys; the
  headline metric is named by :data:`HEADLINE_METRIC`) plus ``"best_epoch"``;
- ``ARTIFACT <json>`` — one exported variant: ``{"format", "variant", "status": "ok"|"failed",
  "error", "path" (relative to the run folder), "size_bytes", "gzip_size_bytes", "sha256", "latency_ms": {"1": ..,
  "2": ..}, "metrics": {..}}`` — the metrics computed by running that file on the test split;
- ``PLOT <name> <path relative to the run folder>`` — a figure to show on the run page;
- ``DONE <json>`` — the end: ``{"best_epoch": k, "epochs": n, "model_card": {...}}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TASKS = ("classify", "detect", "keypoints", "segment")

# The metric a task selects its best epoch by (on val) and that its table headlines (on test).
HEADLINE_METRIC = {"classify": "accuracy", "detect": "map50", "keypoints": "oks_ap", "segment": "miou"}

SPEC_FILE = "spec.json"
STATE_FILE = "state.json"
CHECKPOINT_FILE = "checkpoint.keras"
BEST_FILE = "best.keras"
ARTIFACTS_DIR = "artifacts"
PLOTS_DIR = "plots"

EVENTS = ("PROGRESS", "RESUMED", "EPOCH", "METRICS", "ARTIFACT", "PLOT", "DONE")


@dataclass
class RunItem:
    """One image of the version, as the training process reads it.

    ``path`` is absolute; ``label`` is the class index of a classification image (its one tag);
    ``boxes`` are ``[x, y, w, h, class index]`` in pixels of the stored image (one per object:
    the object's box, see :func:`annotate.geometry.objects_of`). ``keypoints``, when not empty, is
    aligned with ``boxes``: per box the flat ``[x1, y1, v1, ..., xK, yK, vK]`` of its instance in
    stored-image pixels (COCO visibility: 0 unlabeled, 1 hidden, 2 visible). ``segments`` is None
    unless the run rasterises class maps (``segment``): then ``[class index, kind, geometry]`` per
    mask or polygon (the stored geometry: ``{"rle": ...}`` or ``{"polygons": ...}``), painted in
    order, so a later one covers an earlier one where they overlap.
    """

    path: str
    split: str  # train / val / test
    width: int
    height: int
    label: int | None = None
    boxes: list[list[float]] = field(default_factory=list)
    keypoints: list[list[float]] = field(default_factory=list)
    segments: list[list] | None = None


@dataclass
class RunSpec:
    """Everything a training process needs; validated on the web side before it is written."""

    run_id: int
    task: str  # one of TASKS
    architecture: str  # e.g. "mobilenet_v3_small"
    input_size: int  # square input, pixels
    resize: str  # "stretch" | "letterbox": how images reach the input size (the version's mode)
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str  # "cosine" (with warm-up) | "constant"
    warmup_epochs: int
    seed: int
    labels: list[str]  # class names in output order
    items: list[RunItem]
    options: dict[str, Any] = field(default_factory=dict)  # alpha, minimalistic, bn_momentum, class_weights…
    recipe: dict | None = None  # an augment recipe spec, applied online to train only
    recipe_labels: dict[str, dict] = field(default_factory=dict)  # label name -> {"name", "keypoint_names"}
    initial_weights: str | None = None  # absolute path of a .keras / .h5 file to start from
    threads: int = 2  # TensorFlow intra- and inter-op threads (a worker must not starve the web server)
    export: dict[str, Any] = field(default_factory=dict)  # latency_runs, calibration_images, variants
    version: dict[str, Any] = field(default_factory=dict)  # id, number, content_hash (for the model card)

    def write(self, folder: Path) -> Path:
        path = Path(folder) / SPEC_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, folder: Path) -> RunSpec:
        data = json.loads((Path(folder) / SPEC_FILE).read_text())
        data["items"] = [RunItem(**item) for item in data["items"]]
        return cls(**data)


def line(event: str, *parts: Any) -> str:
    """One protocol line (without newline): ``line("EPOCH", {...})``, ``line("PROGRESS", 0.5, "Epoch 2/4")``."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    words = [json.dumps(p, separators=(",", ":")) if isinstance(p, (dict, list)) else str(p) for p in parts]
    return " ".join([event, *words])


def parse(text: str) -> tuple[str, Any] | None:
    """``(event, payload)`` for a protocol line, None for any other output.

    Payloads: PROGRESS ``(fraction, message)``; RESUMED ``int``; PLOT ``(name, path)``; the others
    the decoded JSON object.
    """
    event, _, rest = text.strip().partition(" ")
    if event not in EVENTS:
        return None
    try:
        if event == "PROGRESS":
            fraction, _, message = rest.partition(" ")
            return event, (float(fraction), message)
        if event == "RESUMED":
            return event, int(rest)
        if event == "PLOT":
            name, _, path = rest.partition(" ")
            return event, (name, path)
        return event, json.loads(rest)
    except ValueError:
        return None
