"""A stand-in for ``python -m training.worker <run folder>`` that speaks the same protocol without
TensorFlow: it reads ``spec.json``, "trains" (prints PROGRESS and EPOCH lines, rewrites
``state.json`` after each epoch like the real process), resumes from ``state.json`` when it finds
one, writes dummy files into ``artifacts/`` and ``plots/``, and reports them.

Options (before the folder):
  --die-after N   SIGKILL itself after epoch N, unless it resumed (a crash the next attempt survives)
  --fail          exit 1 with a traceback on stderr after the first epoch
  --slow S        sleep S seconds per batch (so a test can cancel mid-run)
  --no-done       end with exit 0 without the DONE line
  --evil-paths    report an artifact and a plot outside the run folder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image  # noqa: E402

from training.protocol import (  # noqa: E402
    ARTIFACTS_DIR,
    BEST_FILE,
    CHECKPOINT_FILE,
    HEADLINE_METRIC,
    PLOTS_DIR,
    STATE_FILE,
    RunSpec,
    line,
)

BATCHES = 3


def say(event: str, *parts) -> None:
    print(line(event, *parts), flush=True)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def artifact(folder: Path, relative: str, fmt: str, variant: str, metric: str, value: float) -> dict:
    path = folder / relative
    if path.is_dir():
        data = b"".join(p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file())
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        data = path.read_bytes()
        size = len(data)
    return {"format": fmt, "variant": variant, "status": "ok", "error": "", "path": relative, "size_bytes": size,
            "sha256": hashlib.sha256(data).hexdigest(), "latency_ms": {"1": 2.5, "2": 1.5}, "metrics": {metric: value}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--no-done", action="store_true")
    parser.add_argument("--evil-paths", action="store_true")
    parser.add_argument("folder")
    args = parser.parse_args()
    folder = Path(args.folder)
    spec = RunSpec.read(folder)
    metric = HEADLINE_METRIC[spec.task]
    print("fake worker starting (this line is logged, not parsed)", flush=True)
    (folder / "seen.json").write_text(json.dumps({
        "labels": spec.labels, "items": len(spec.items), "splits": sorted({i.split for i in spec.items}),
        "first_item": spec.items[0].__dict__ if spec.items else None, "resize": spec.resize,
        "threads": spec.threads, "env_threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "initial_weights": spec.initial_weights, "recipe": spec.recipe, "options": spec.options,
        "version": spec.version, "warmup_epochs": spec.warmup_epochs, "schedule": spec.schedule,
        "argv": sys.argv[1:],
    }))

    state_path = folder / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {"epochs_done": 0, "history": []}
    resumed = state["epochs_done"] > 0
    if resumed:
        say("RESUMED", state["epochs_done"])
    history = list(state["history"])
    per_epoch = 0.85 / spec.epochs
    for epoch in range(state["epochs_done"] + 1, spec.epochs + 1):
        for batch in range(1, BATCHES + 1):
            time.sleep(args.slow)
            fraction = per_epoch * (epoch - 1 + batch / BATCHES)
            say("PROGRESS", round(fraction, 4), f"Epoch {epoch}/{spec.epochs} · batch {batch}/{BATCHES}")
        entry = {"epoch": epoch, "loss": round(1.0 / epoch, 4), "val_loss": round(1.2 / epoch, 4),
                 f"val_{metric}": round(epoch / (spec.epochs + 1), 4), "lr": spec.learning_rate, "seconds": 0.01}
        history.append(entry)
        write_atomic(folder / CHECKPOINT_FILE, f"checkpoint after epoch {epoch}".encode())
        write_atomic(folder / BEST_FILE, f"best = epoch {epoch}".encode())
        write_atomic(state_path, json.dumps({"epochs_done": epoch, "history": history, "best_epoch": epoch,
                                             "best_metric": entry[f"val_{metric}"]}).encode())
        say("EPOCH", entry)
        if args.fail:
            print("Traceback (most recent call last):\n  File \"fake\", line 1\nValueError: the fake training failed",
                  file=sys.stderr, flush=True)
            return 1
        if args.die_after and epoch == args.die_after and not resumed:
            os.kill(os.getpid(), signal.SIGKILL)

    say("PROGRESS", 0.86, "Exporting")
    say("METRICS", {metric: 0.9, "loss": 0.1, "best_epoch": spec.epochs, "per_class": {"x": {"f1": 0.5}},
                    "warnings": ["The fake trained on nothing."]})
    artifacts = folder / ARTIFACTS_DIR
    (artifacts / "saved_model" / "variables").mkdir(parents=True, exist_ok=True)
    (artifacts / "model.keras").write_bytes(b"keras model")
    (artifacts / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (artifacts / "saved_model" / "variables" / "variables.index").write_bytes(b"index")
    (artifacts / "model_float32.tflite").write_bytes(b"TFL3 float32")
    (artifacts / "model_int8.tflite").write_bytes(b"TFL3 int8")
    records = [
        artifact(folder, "artifacts/model.keras", "keras", "float32", metric, 0.9),
        artifact(folder, "artifacts/saved_model", "saved_model", "float32", metric, 0.9),
        artifact(folder, "artifacts/model_float32.tflite", "tflite", "float32", metric, 0.9),
        artifact(folder, "artifacts/model_int8.tflite", "tflite", "int8", metric, 0.88),
        {"format": "onnx", "variant": "float32", "status": "failed", "error": "converter said no", "path": "",
         "size_bytes": None, "sha256": "", "latency_ms": {}, "metrics": {}},
    ]
    if args.evil_paths:
        records.append({**records[0], "variant": "float16", "path": "../../../etc/passwd"})
    for record in records:
        say("ARTIFACT", record)
    plots = folder / PLOTS_DIR
    plots.mkdir(exist_ok=True)
    names = ["learning_curves", "confusion_matrix" if spec.task == "classify" else "pr_curve", "samples"]
    for name in names:
        Image.new("RGB", (8, 6), (200, 30, 30)).save(plots / f"{name}.png")
        say("PLOT", name, f"{PLOTS_DIR}/{name}.png")
    if args.evil_paths:
        say("PLOT", "escape", "/etc/passwd")
    say("PROGRESS", 1.0, "Done")
    if args.no_done:
        return 0
    say("DONE", {"best_epoch": spec.epochs, "epochs": spec.epochs, "model_card": {
        "task": spec.task, "labels": spec.labels, "output_layout": {"scores": [None, len(spec.labels)]},
        "variants": [{k: r[k] for k in ("format", "variant", "size_bytes", "latency_ms", "metrics")} for r in records],
    }})
    return 0


if __name__ == "__main__":
    sys.exit(main())
