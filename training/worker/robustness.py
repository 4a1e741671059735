"""``python -m training.worker.robustness <request.json>``: score one exported file on corrupted test sets.

The ``training.robustness`` job (:mod:`training.robustness`) corrupts the run's test split with
every device profile at every severity, writes a request, and starts this process through
:func:`jobs.processes.subprocess_run`, so no model runtime (LiteRT, onnxruntime) and no task code
loads in the Celery worker. Nothing here imports Django or TensorFlow: the file runs in
:class:`export.model_formats.measure.FileRunner` and is scored by the task's own ``evaluate`` --
the very code that measured the file when the run exported it, so the clean score here is the
variant's measured metric.

**The request** (JSON)::

    {"task": "classify", "architecture": "...", "input_size": 96, "resize": "stretch",
     "labels": [...], "options": {...}, "metric": "accuracy", "threads": 2,
     "file": "/abs/path/model_int8.tflite", "variant": "tflite-int8",
     "clean": [RunItem, ...],
     "sets": [{"profile": "phone-low-light", "severity": 3, "items": [RunItem, ...]}, ...],
     "profiles": [...], "severities": [...], "plot": "/abs/path/robustness.png", "title": "..."}

**The lines** on stdout, in the words of :mod:`training.protocol`:

- ``PROGRESS <fraction> <message>``;
- ``METRICS {"profile": null, "severity": 0, "value": .., "metrics": {..}}`` for the clean set, then
  one per corrupted set with its profile and severity (``value``: the headline metric);
- ``PLOT robustness <path>`` -- metric vs severity, a line per profile, the clean score dashed;
- ``DONE {"sets": n}``.

A failure exits non-zero with its reason as the last stderr line (the job shows it).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import RunItem, RunSpec, line

PROGRESS_INTERVAL_S = 0.5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(event: str, *parts: Any) -> None:
    from .artifacts import jsonable

    print(line(event, *(jsonable(p) for p in parts)), flush=True)


class RequestError(ValueError):
    """A request this process cannot work on (one sentence)."""


def read_request(path: Path) -> dict[str, Any]:
    try:
        request = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RequestError(f"The request {Path(path).name} cannot be read: {exc}") from None
    missing = [k for k in ("task", "input_size", "resize", "labels", "metric", "file", "clean", "sets") if k not in request]
    if missing:
        raise RequestError(f"The request lacks {', '.join(missing)}.")
    request["clean"] = [RunItem(**item) for item in request["clean"]]
    for entry in request["sets"]:
        entry["items"] = [RunItem(**item) for item in entry["items"]]
    return request


def task_for(request: dict[str, Any]) -> Any:
    """The run's task, configured as the run was (a pose task needs its keypoint names and sigmas)."""
    from .tasks import get_task

    task = get_task(request["task"])
    configure = getattr(task, "configure", None)
    if callable(configure):
        configure(RunSpec(
            run_id=int(request.get("run", 0)), task=request["task"], architecture=request.get("architecture", ""),
            input_size=int(request["input_size"]), resize=request["resize"], epochs=1, batch_size=1,
            learning_rate=0.001, schedule="constant", warmup_epochs=0, seed=0, labels=list(request["labels"]),
            items=list(request["clean"]), options=dict(request.get("options") or {}),
        ))
    return task


def score(task: Any, predict: Any, items: list[RunItem], request: dict[str, Any]) -> dict[str, Any]:
    """The task's metrics of ``predict`` on ``items`` at the run's input size and resize mode."""
    from .artifacts import scalar_metrics
    from .data import load_sample

    size, mode = int(request["input_size"]), request["resize"]
    samples = [load_sample(item, size, mode) for item in items]
    metrics = task.evaluate(predict, samples, list(request["labels"]))
    value = metrics.get(request["metric"])
    if not isinstance(value, int | float | np.integer | np.floating) or not np.isfinite(float(value)):
        raise RequestError(f"The task reported no {request['metric']} ({value!r}).")
    return {"value": float(value), "metrics": scalar_metrics(metrics)}


def plot(path: Path, *, clean: float, results: dict[str, list[float | None]], severities: list[int],
         metric: str, title: str) -> Path:
    """Metric vs severity: one line per profile, the clean score as a dashed line."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for profile, values in results.items():
        points = [(s, float(v)) for s in severities if (v := values[s - 1]) is not None]
        ax.plot([s for s, _ in points], [v for _, v in points], marker="o", label=profile)
    ax.axhline(clean, color="k", linestyle="--", linewidth=1, label=f"clean ({clean:.3f})")
    ax.set_xticks(list(severities))
    ax.set_xlabel("severity")
    ax.set_ylabel(metric)
    top = max([clean, *[v for vs in results.values() for v in vs if v is not None]], default=1.0)
    ax.set_ylim(0.0, max(1.0, top) * 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def execute(request: dict[str, Any]) -> int:
    from export.model_formats.measure import FileRunner

    task = task_for(request)
    runner = FileRunner(request["file"], threads=int(request.get("threads") or 2))

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        return runner(images)

    sets = request["sets"]
    total = len(sets) + 1
    last = 0.0

    def progress(done: int, message: str, *, force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if force or now - last >= PROGRESS_INTERVAL_S:
            last = now
            emit("PROGRESS", round(done / total, 4), message)

    progress(0, "Scoring the clean test split", force=True)
    clean = score(task, predict, request["clean"], request)
    emit("METRICS", {"profile": None, "severity": 0, **clean})
    severities = [int(s) for s in request.get("severities") or range(1, 6)]
    results: dict[str, list[float | None]] = {p: [None] * 5 for p in request.get("profiles") or []}
    for i, entry in enumerate(sets, start=1):
        progress(i, f"Scoring {entry['profile']} severity {entry['severity']} ({i}/{len(sets)})")
        scored = score(task, predict, entry["items"], request)
        results.setdefault(entry["profile"], [None] * 5)[int(entry["severity"]) - 1] = scored["value"]
        emit("METRICS", {"profile": entry["profile"], "severity": int(entry["severity"]), **scored})
    if request.get("plot"):
        progress(total, "Drawing the plot", force=True)
        path = plot(Path(request["plot"]), clean=clean["value"], results=results, severities=severities,
                    metric=request["metric"], title=request.get("title") or f"{request['metric']} under corruption")
        emit("PLOT", "robustness", str(path))
    emit("PROGRESS", 1.0, "Done")
    emit("DONE", {"sets": len(sets)})
    return 0


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 500 else text[:499] + "…"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        log("usage: python -m training.worker.robustness <request.json>")
        return 2
    try:
        return execute(read_request(Path(argv[0])))
    except RequestError as exc:
        log(one_line(exc))
        return 2
    except KeyboardInterrupt:
        log("The robustness evaluation was interrupted.")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last stderr line is the reason, for the job page
        traceback.print_exc(file=sys.stderr)
        log(f"The robustness evaluation failed: {type(exc).__name__}: {one_line(exc)}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
