"""What a model download holds: the model file (a SavedModel or Core ML ``.mlpackage`` folder as a
folder), ``labels.txt`` (one class per line, in output order) and ``model_card.json``.

The card is the one the training process wrote (task, labels, input size/resize/dtype/range,
output layout, dataset version, hyperparameters, history summary, every variant's size, latency
and metric), completed from the database where it lacks a key, plus a ``file`` entry naming the
file it came with.
"""

from __future__ import annotations

import json
import zipfile
from typing import IO, Any

from .models import ModelArtifact, TrainingRun
from .runspec import version_resize_mode


class ArtifactUnavailable(Exception):
    """The variant failed to export, or its file is gone."""


def variant_rows(run: TrainingRun) -> list[dict[str, Any]]:
    return [
        {"format": a.format, "variant": a.variant, "status": a.status, "error": a.error, "size_bytes": a.size_bytes,
         "sha256": a.sha256, "latency_ms": a.latency_ms, "metrics": a.metrics}
        for a in ModelArtifact.objects.filter(run=run).order_by("id")
    ]


def input_dtype(artifact: ModelArtifact) -> str:
    """What the file's input takes: int8 for the full-integer TFLite file, float32 otherwise."""
    return "int8" if artifact.format == ModelArtifact.Format.TFLITE and artifact.variant == ModelArtifact.Variant.INT8 else "float32"


def model_card_for(run: TrainingRun, artifact: ModelArtifact) -> dict[str, Any]:
    version = run.version
    history = run.history or []
    base: dict[str, Any] = {
        "task": run.task,
        "architecture": run.architecture,
        "labels": list(run.labels or []),
        "input": {
            "size": [run.input_size, run.input_size], "channels": "RGB",
            "resize": version_resize_mode(version) if version is not None else "stretch",
            "dtype": "float32", "range": [0, 255],
        },
        "dataset_version": (
            {"id": version.pk, "number": version.number, "name": version.name, "content_hash": version.content_hash}
            if version is not None else {"id": None}
        ),
        "hyperparameters": {
            "epochs": run.epochs, "batch_size": run.batch_size, "learning_rate": run.learning_rate,
            "schedule": run.schedule, "warmup_epochs": run.warmup_epochs, "seed": run.seed,
            "options": run.options, "recipe": run.recipe_id, "init_from": run.init_from_id,
        },
        "history": {
            "epochs": len(history), "best_epoch": run.best_epoch,
            f"best_val_{run.headline}": run.best_val_metric,
            "last": history[-1] if history else None,
        },
        "metrics": run.metrics,
        "variants": variant_rows(run),
    }
    worker_card = run.model_card or {}
    if "version" in worker_card:  # the training process's own name for the same thing
        base.pop("dataset_version")
    card = {**base, **worker_card}
    card["file"] = {
        "format": artifact.format, "variant": artifact.variant, "name": artifact.file_path.name,
        "size_bytes": artifact.size_bytes, "sha256": artifact.sha256, "input_dtype": input_dtype(artifact),
        "latency_ms": artifact.latency_ms, "metrics": artifact.metrics, "run": run.pk,
    }
    return card


def artifact_zip_name(artifact: ModelArtifact) -> str:
    return f"run{artifact.run_id}-{artifact.format}-{artifact.variant}.zip"


def artifact_zip(artifact: ModelArtifact, out: IO[bytes]) -> None:
    """Write the download of ``artifact`` as a zip into ``out``."""
    if artifact.status != ModelArtifact.Status.OK:
        raise ArtifactUnavailable(f"The {artifact.format} {artifact.variant} variant failed to export: {artifact.error}")
    path = artifact.file_path
    if not path.exists():
        raise ArtifactUnavailable(f"The {artifact.format} {artifact.variant} file of run {artifact.run_id} is gone.")
    run = artifact.run
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if path.is_dir():  # a SavedModel or an .mlpackage: the folder, as a folder
            for member in sorted(path.rglob("*")):
                if member.is_file() and not member.is_symlink():
                    archive.write(member, arcname=f"{path.name}/{member.relative_to(path).as_posix()}")
        else:
            archive.write(path, arcname=path.name)
        archive.writestr("labels.txt", "".join(f"{name}\n" for name in run.labels or []))
        archive.writestr("model_card.json", json.dumps(model_card_for(run, artifact), indent=2, default=str))
