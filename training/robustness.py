"""The robustness report of a finished run: one exported file scored on the run's test split
corrupted by every device profile of :mod:`augment.profiles` at severities 1-5.

It answers "does this model survive a dim, noisy phone camera?" with numbers measured on the file
that ships (``tflite-int8``, ``tflite-float32``, ``onnx-float32``...), not on the Keras model.

How it runs
-----------
:func:`robustness_start` checks the request (the run has succeeded, the variant exists, exported
fine and is a ``.tflite`` / ``.onnx`` file, the profiles and severities are known; each refusal a
``ValidationError`` naming the field, nothing written) and queues a ``training.robustness`` job on
the ``train`` queue. ``variant`` is ``<format>-<variant>`` as the run's variant table lists it
(``tflite-int8``), or just the format when the run has one file of it (``onnx``). The job (:func:`robustness_execute`):

1. corrupts the version's **test split** once per (profile, severity) with
   :func:`augment.offline.run_engine` and the profile's corruption recipe (every transform
   applies, strengths pinned by severity, seeded per image: the same seed gives the same pixels).
   A corrupted split is kept under ``MEDIA_ROOT/corruptions/version-<id>/<profile>/severity-<s>/
   test-seed-<seed>/`` (``images/<key>.jpg`` + ``manifest.json``, written to a temporary folder
   and renamed into place), so the next report -- another variant, another run of the same
   version -- reuses it. A version never changes; a folder is reused only when its manifest names
   this version's content hash and the recipe's digest (levels changed since: built again);
2. writes a request (the run's task, input size, resize mode, classes and options, the file, the
   clean and corrupted :class:`~training.protocol.RunItem` lists) and runs
   ``python -m training.worker.robustness <request>`` (:mod:`training.worker.robustness`) through
   :func:`jobs.processes.subprocess_run`: the model runtime and the task's scoring code load in
   that process only, never in the Celery worker. It is stopped, and the job fails, past
   ``ROBUSTNESS_TIMEOUT_SECONDS`` (a setting, 6 hours unless set); a cancel kills it at once;
3. stores the metrics, the summary and the plot on the report, and the summary in the run's
   ``model_card["robustness"]`` (one entry per variant, the latest report's), in one transaction
   once everything was measured: a report that failed or was cancelled shows no numbers.

The summary
-----------
For each profile, over its severities ``s`` with metric ``m_s`` and the file's clean metric ``c``:

- ``mean_metric`` = mean of ``m_s``;
- ``mean_corruption_error`` = mean of ``1 - m_s`` (the error rate under corruption, for a metric
  in 0..1 such as accuracy, mAP, OKS-AP or mIoU);
- ``relative_corruption_error`` = mean of ``(c - m_s) / c``: the share of the clean score the
  corruption takes away (0: unaffected, 0.25: a quarter of it lost; negative if the corruption
  helped). ``overall`` is the same over every measured (profile, severity) cell.

Why relative to this model's own clean score: ImageNet-C's mCE (Hendrycks & Dietterich 2019)
divides each corruption's error by AlexNet's, to compare architectures on one fixed dataset.
Here every project has its own data and classes and there is no reference model to divide by;
what a team needs to know is how much of *this* model's quality survives the camera, and the
share lost is comparable across models, variants and tasks of any clean score (an int8 file that
loses 30% of its accuracy in low light is worse off than a float32 one that loses 10%, whatever
their clean scores). It is undefined (null) when the clean score is 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate import storage
from augment.offline import AugmentError, run_engine, spec_digest
from augment.profiles import PROFILES, SEVERITIES, corruption_spec
from datasets.models import DatasetVersion
from jobs.models import Job
from jobs.processes import SubprocessFailed, subprocess_run
from jobs.runner import JobContext, JobError
from jobs.services import job_create, job_submit

from .data import version_rows
from .models import ModelArtifact, RobustnessReport, TrainingRun
from .protocol import parse
from .recording import inside
from .runspec import run_item, run_labels_and_options, version_resize_mode

ROBUSTNESS_KIND = "training.robustness"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
RUNNABLE_FORMATS = ("tflite", "onnx")  # the files a model runtime runs without TensorFlow
SPLIT = "test"
BUILD_END = 0.5  # job progress: corrupting up to here, scoring after
DEFAULT_TIMEOUT_SECONDS = 6 * 3600
PLOT_NAME = "robustness.png"
REQUEST_NAME = "request.json"


# --- the summary --------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def relative_corruption_error(clean: float, metrics: Sequence[float]) -> float | None:
    """Mean over severities of ``(clean - metric) / clean``: the share of the clean score lost
    (None when the clean score is 0 or nothing was measured)."""
    if not metrics or not clean:
        return None
    return sum((clean - m) / clean for m in metrics) / len(metrics)


def _cell_summary(clean: float, metrics: Sequence[float]) -> dict[str, float | None]:
    return {
        "mean_metric": _mean(metrics),
        "mean_corruption_error": _mean([1.0 - m for m in metrics]),
        "relative_corruption_error": relative_corruption_error(clean, metrics),
    }


def summarize(clean: float, results: dict[str, list[float | None]], *, metric: str = "") -> dict[str, Any]:
    """Per profile and overall: mean metric, mean corruption error, relative corruption error
    (see the module doc), plus the profile that loses the most. ``results``: profile -> the
    metric at severity 1..5 (None where not measured)."""
    profiles = {}
    every: list[float] = []
    for profile, values in results.items():
        measured = [float(v) for v in values if v is not None]
        every.extend(measured)
        profiles[profile] = _cell_summary(clean, measured)
    ranked = [p for p in profiles if profiles[p]["relative_corruption_error"] is not None]
    worst = max(ranked, key=lambda p: profiles[p]["relative_corruption_error"] or 0.0) if ranked else None
    return {
        "metric": metric,
        "clean": clean,
        "profiles": profiles,
        "overall": _cell_summary(clean, every),
        "worst_profile": worst,
    }


# --- starting -------------------------------------------------------------------------------
def variant_key(artifact: ModelArtifact) -> str:
    return f"{artifact.format}-{artifact.variant}"


def _variant_artifact(run: TrainingRun, variant: Any) -> ModelArtifact:
    artifacts = {variant_key(a): a for a in run.artifacts.all()}
    runnable = sorted(k for k, a in artifacts.items() if a.format in RUNNABLE_FORMATS and a.status == ModelArtifact.Status.OK)
    offered = f" This run's runnable files: {', '.join(runnable)}." if runnable else " This run has no runnable file."
    if isinstance(variant, str) and variant not in artifacts:  # "onnx": the run's one ONNX file
        named = [k for k, a in artifacts.items() if a.format == variant]
        variant = named[0] if len(named) == 1 else variant
    if not isinstance(variant, str) or variant not in artifacts:
        raise ValidationError({"variant": f"Run {run.pk} has no variant {variant!r}.{offered}"})
    artifact = artifacts[variant]
    if artifact.status != ModelArtifact.Status.OK:
        raise ValidationError({"variant": f"The {variant} variant failed to export ({artifact.error or 'no file'}).{offered}"})
    if artifact.format not in RUNNABLE_FORMATS:
        raise ValidationError({"variant": f"{variant} is not a .tflite or .onnx file; only those run here.{offered}"})
    if not artifact.path or not inside(run.folder, artifact.path) or not artifact.file_path.is_file():
        raise ValidationError({"variant": f"The {variant} file is gone from the run folder."})
    return artifact


def _choices(value: Any, known: Sequence, field: str, what: str) -> list:
    if value is None:
        return list(known)
    if not isinstance(value, list) or not value:
        raise ValidationError({field: f"{field} must be a non-empty list of {what}."})
    unknown = [v for v in value if isinstance(v, bool) or v not in known]
    if unknown:
        raise ValidationError({field: f"Unknown {what} {', '.join(repr(v) for v in unknown)}; "
                                      f"known: {', '.join(str(k) for k in known)}."})
    return [k for k in known if k in value]  # known order, no repeats


def robustness_clean(*, run: TrainingRun, variant: Any, seed: Any = 0, profiles: Any = None,
                     severities: Any = None) -> dict[str, Any]:
    """The checked request: ``{"artifact", "variant", "seed", "profiles", "severities"}``;
    a ``ValidationError`` naming the field at fault otherwise."""
    if run.status != Job.Status.SUCCEEDED:
        raise ValidationError({"run": f"Run {run.pk} is {run.status}; a robustness report needs a run that succeeded."})
    if run.version is None:
        raise ValidationError({"run": f"Run {run.pk}'s dataset version was deleted; its test split is gone."})
    if not run.version.images.filter(split=SPLIT).exists():
        raise ValidationError({"run": f"Version {run.version.number} has no test images to corrupt."})
    artifact = _variant_artifact(run, variant)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise ValidationError({"seed": f"seed must be a whole number from 0 to {2**31 - 1}, got {seed!r}."})
    return {
        "artifact": artifact,
        "variant": variant_key(artifact),
        "seed": seed,
        "profiles": _choices(profiles, list(PROFILES), "profiles", "profiles"),
        "severities": _choices(severities, list(SEVERITIES), "severities", "severities (1 to 5)"),
    }


def robustness_start(*, run: TrainingRun, user, variant: Any, seed: Any = 0, profiles: Any = None,
                     severities: Any = None, enqueue: bool = True) -> RobustnessReport:
    """Check the request, record the report and queue its job on the train queue (sent on commit)."""
    cleaned = robustness_clean(run=run, variant=variant, seed=seed, profiles=profiles, severities=severities)
    with transaction.atomic():
        create = job_submit if enqueue else job_create
        job = create(kind=ROBUSTNESS_KIND, created_by=user, project=run.project, params={})
        report = RobustnessReport.objects.create(
            run=run, variant=cleaned["variant"], seed=cleaned["seed"], profiles=cleaned["profiles"],
            severities=cleaned["severities"], metric=run.headline, job=job, created_by=user,
        )
        job.params = {"report": report.pk, "run": run.pk, "variant": report.variant, "seed": report.seed,
                      "profiles": report.profiles, "severities": report.severities}
        job.message = "Waiting for a training worker (queue train)"
        job.save(update_fields=["params", "message"])
    return report


# --- corrupted test splits ------------------------------------------------------------------------
def corrupted_folder(*, version: DatasetVersion, profile: str, severity: int, seed: int) -> Path:
    """Where the corrupted test split of a version lives (one folder per profile, severity and seed)."""
    return (Path(settings.MEDIA_ROOT) / "corruptions" / f"version-{version.pk}" / profile
            / f"severity-{severity}" / f"{SPLIT}-seed-{seed}")


def _cached(folder: Path, version: DatasetVersion, digest: str, count: int) -> dict | None:
    """The folder's manifest if it is a complete corruption of this very version (its content hash:
    a database may hand a deleted version's id to a new one) with these levels (the recipe's digest)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    items = manifest.get("items")
    if (manifest.get("spec_sha256") != digest or manifest.get("content_hash") != version.content_hash
            or not isinstance(items, list) or len(items) != count):
        return None
    if not all((folder / entry["file"]).is_file() for entry in items):
        return None
    return manifest


def corrupted_split(
    *,
    version: DatasetVersion,
    rows: Sequence[dict],
    labels: dict[str, dict],
    profile: str,
    severity: int,
    seed: int,
    processes: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[dict, bool]:
    """``(manifest, built)``: the corrupted copy of the test ``rows`` (``{"key", "path",
    "annotations"}``), from the cache when it is there (``built`` False), else written now."""
    spec = corruption_spec(profile, severity)
    digest = spec_digest(spec)
    folder = corrupted_folder(version=version, profile=profile, severity=severity, seed=seed)
    manifest = _cached(folder, version, digest, len(rows))
    if manifest is not None:
        return manifest, False
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.partial")
    (tmp / "images").mkdir(parents=True)
    items = []
    try:
        engine_items = [{"key": row["key"], "path": row["path"], "split": SPLIT, "annotations": row["annotations"]}
                        for row in rows]
        for out in run_engine(spec=spec, items=engine_items, copies=1, seed=seed, processes=processes,
                              progress=progress, labels=labels, recipe={"profile": profile, "severity": severity}):
            name = f"images/{out['key']}.jpg"
            (tmp / name).write_bytes(out["image"])
            items.append({
                "key": out["key"], "file": name, "width": out["width"], "height": out["height"],
                "seed": out["meta"]["seed"],
                "annotations": [{k: v for k, v in a.items() if k != "bbox"} for a in out["annotations"]],
            })
        manifest = {"version": version.pk, "content_hash": version.content_hash, "profile": profile,
                    "severity": severity, "split": SPLIT, "seed": seed, "spec": spec, "spec_sha256": digest,
                    "items": items}
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        shutil.rmtree(folder, ignore_errors=True)  # a stale build (other levels) or a broken one
        try:
            tmp.rename(folder)
        except OSError:  # another report wrote the same folder meanwhile: the same pixels, keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            theirs = _cached(folder, version, digest, len(rows))
            if theirs is None:
                raise
            return theirs, True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest, True


# --- the job's work ---------------------------------------------------------------------------
class _Deadline:
    """The job's cancel check, plus a wall-clock limit for the evaluation process."""

    def __init__(self, ctx: JobContext, seconds: float):
        self.ctx, self.until, self.seconds = ctx, time.monotonic() + seconds, seconds

    def check_cancelled(self) -> None:
        self.ctx.check_cancelled()
        if time.monotonic() > self.until:
            raise JobError(f"The robustness evaluation took longer than {self.seconds:.0f} s and was stopped "
                           "(ROBUSTNESS_TIMEOUT_SECONDS).")


def evaluation_command(request: Path) -> list[str]:
    base = getattr(settings, "ROBUSTNESS_WORKER_COMMAND", None) or [sys.executable, "-m", "training.worker.robustness"]
    return [*[str(part) for part in base], str(request)]


def _items(run: TrainingRun, labels: list[str], options: dict, entries: Sequence[tuple[str, int, int, list]]) -> list[dict]:
    found = []
    for path, width, height, anns in entries:
        item = run_item(run.task, path, SPLIT, width, height, anns, labels, options)
        if item is not None:
            found.append(asdict(item))
    return found


def robustness_execute(*, report: RobustnessReport, ctx: JobContext) -> dict[str, Any]:
    """Job work: corrupt (or reuse), score in the evaluation process, store (see the module doc)."""
    run = report.run
    version = run.version
    if version is None:
        raise JobError(f"Run {run.pk}'s dataset version was deleted; its test split is gone.")
    artifact = run.artifacts.filter(format=report.variant.split("-", 1)[0],
                                    variant=report.variant.split("-", 1)[-1]).first()
    if artifact is None or not artifact.file_path.is_file():
        raise JobError(f"The {report.variant} file of run {run.pk} is gone.")
    all_rows = list(version_rows(version))
    computed_labels, options = run_labels_and_options(run, all_rows)
    labels = list(run.labels or computed_labels)
    rows: list[dict[str, Any]] = [
        {"key": str(index), "path": str(storage.media_path(file)), "width": width, "height": height, "annotations": anns}
        for index, (file, _name, split, width, height, anns) in enumerate(all_rows) if split == SPLIT
    ]
    clean = _items(run, labels, options, [(r["path"], r["width"], r["height"], r["annotations"]) for r in rows])
    if not clean:
        raise JobError(f"No test image of version {version.number} is one a {run.task} model is scored on.")
    engine_labels = {
        label["name"]: {"name": label["name"], "keypoint_names": list(label.get("keypoint_names") or [])}
        for label in version.labels
    }
    settings_pairs = [(p, s) for p in report.profiles for s in report.severities]
    processes = int(getattr(settings, "AUGMENT_PROCESSES", 1))
    sets, built, reused = [], 0, 0
    ctx.progress(0.0, f"Corrupting the test split ({len(rows)} images, {len(settings_pairs)} settings)", force=True)
    share = BUILD_END / len(settings_pairs)
    for i, (profile, severity) in enumerate(settings_pairs):

        def progress(fraction: float, message: str, *, i=i, profile=profile, severity=severity) -> None:
            ctx.progress(share * (i + fraction), f"Corrupting: {profile} severity {severity} · {message}")

        try:
            manifest, made = corrupted_split(version=version, rows=rows, labels=engine_labels, profile=profile,
                                             severity=severity, seed=report.seed, processes=processes, progress=progress)
        except AugmentError as exc:
            raise JobError(f"{profile} severity {severity}: {exc}") from exc
        built, reused = built + made, reused + (not made)
        folder = corrupted_folder(version=version, profile=profile, severity=severity, seed=report.seed)
        items = _items(run, labels, options, [(str(folder / e["file"]), e["width"], e["height"], e["annotations"])
                                              for e in manifest["items"]])
        sets.append({"profile": profile, "severity": severity, "items": items})
        ctx.progress(share * (i + 1), f"Corrupted: {profile} severity {severity}" + ("" if made else " (cached)"))

    out = report.folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    request = out / REQUEST_NAME
    request.write_text(json.dumps({
        "run": run.pk, "task": run.task, "architecture": run.architecture, "input_size": run.input_size,
        "resize": version_resize_mode(version), "labels": labels, "options": options, "metric": report.metric,
        "threads": int(getattr(settings, "TRAINING_THREADS", 2)), "file": str(artifact.file_path),
        "variant": report.variant, "clean": clean, "sets": sets, "profiles": report.profiles,
        "severities": report.severities, "plot": str(out / PLOT_NAME),
        "title": f"Run {run.pk} · {report.variant} · {report.metric} under corruption (seed {report.seed})",
    }))
    scored = _evaluate(report, request, ctx)
    results: dict[str, list[float | None]] = {p: [None] * len(SEVERITIES) for p in report.profiles}
    for (profile, severity), value in scored["sets"].items():
        results[profile][severity - 1] = value
    missing = [f"{p} severity {s}" for p, s in settings_pairs if (p, s) not in scored["sets"]]
    if scored["clean"] is None or missing:
        raise JobError("The evaluation process ended without scoring "
                       + ("the clean test split" if scored["clean"] is None else ", ".join(missing[:5])) + ".")
    clean_value = float(scored["clean"])
    summary = summarize(clean_value, results, metric=report.metric)
    plot = inside(run.folder, scored["plot"]) if scored["plot"] else None
    _store(report, clean=clean_value, results=results, summary=summary, plot=plot or "")
    return {"report": report.pk, "run": run.pk, "variant": report.variant, "metric": report.metric,
            "clean": clean_value, "relative_corruption_error": summary["overall"]["relative_corruption_error"],
            "corrupted_sets_built": built, "corrupted_sets_reused": reused}


def _evaluate(report: RobustnessReport, request: Path, ctx: JobContext) -> dict[str, Any]:
    """Run the evaluation process; what it scored: ``{"clean", "sets": {(profile, severity): value}, "plot"}``."""
    scored: dict[str, Any] = {"clean": None, "sets": {}, "plot": None, "done": False}
    threads = str(int(getattr(settings, "TRAINING_THREADS", 2)))

    def on_line(text: str) -> None:
        parsed = parse(text)
        if parsed is None:
            if text.strip():
                ctx.log(text[:2000])
            return
        event, payload = parsed
        if event == "PROGRESS":
            fraction, message = payload
            ctx.progress(BUILD_END + (0.99 - BUILD_END) * min(max(fraction, 0.0), 1.0), message or None)
        elif event == "METRICS" and isinstance(payload, dict) and isinstance(payload.get("value"), int | float):
            if payload.get("profile") is None:
                scored["clean"] = float(payload["value"])
            elif payload["profile"] in report.profiles and payload.get("severity") in report.severities:
                scored["sets"][(payload["profile"], int(payload["severity"]))] = float(payload["value"])
        elif event == "PLOT":
            _name, path = payload
            root = report.run.folder.resolve()
            resolved = Path(path).resolve()
            scored["plot"] = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None
        elif event == "DONE":
            scored["done"] = True

    env = {"OMP_NUM_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    limit = float(getattr(settings, "ROBUSTNESS_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    ctx.progress(BUILD_END, f"Scoring {report.variant} on {len(report.profiles) * len(report.severities) + 1} test sets",
                 force=True)
    try:
        subprocess_run(evaluation_command(request), on_line=on_line, ctx=_Deadline(ctx, limit), cwd=PROJECT_ROOT,
                       env=env, name="The robustness evaluation")
    except SubprocessFailed as exc:
        raise JobError(str(exc)) from None
    if not scored["done"]:
        raise JobError("The robustness evaluation ended without reporting its end (no DONE line).")
    return scored


def _store(report: RobustnessReport, *, clean: float, results: dict, summary: dict, plot: str) -> None:
    """The numbers on the report and its summary in the run's model card, together."""
    entry = {"variant": report.variant, "report": report.pk, "seed": report.seed, "metric": report.metric,
             "profiles": report.profiles, "severities": report.severities, "clean": clean, "results": results,
             "summary": {"profiles": summary["profiles"], "overall": summary["overall"],
                         "worst_profile": summary["worst_profile"]}}
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=report.run_id)
        card = dict(run.model_card or {})
        card["robustness"] = [e for e in card.get("robustness") or [] if isinstance(e, dict)
                              and e.get("variant") != report.variant] + [entry]
        run.model_card = card
        run.save(update_fields=["model_card"])
        RobustnessReport.objects.filter(pk=report.pk).update(clean=clean, results=results, summary=summary, plot=plot)
    report.clean, report.results, report.summary, report.plot = clean, results, summary, plot


def reports_of(*, run: TrainingRun):
    """The run's reports, newest first, with their jobs (the caller checked the run's access)."""
    return (RobustnessReport.objects.filter(run=run).select_related("run", "job__created_by", "created_by")
            .order_by("-created_at", "-id"))


def report_table(report: RobustnessReport) -> list[dict[str, Any]]:
    """One row per profile of a report that succeeded: the metric at severity 1..5 (None where not
    measured), its mean and its relative corruption error; empty before that."""
    if report.status != Job.Status.SUCCEEDED:
        return []
    profiles = (report.summary or {}).get("profiles") or {}
    return [
        {
            "profile": profile,
            "name": PROFILES[profile].name if profile in PROFILES else profile,
            "metrics": list(values),
            "mean_metric": (profiles.get(profile) or {}).get("mean_metric"),
            "relative_corruption_error": (profiles.get(profile) or {}).get("relative_corruption_error"),
        }
        for profile, values in (report.results or {}).items()
    ]


def report_plot_path(report: RobustnessReport) -> Path | None:
    """The report's figure, when it has succeeded with one and the file is still there."""
    if report.status != Job.Status.SUCCEEDED:
        return None
    relative = inside(report.run.folder, report.plot) if report.plot else None
    path = report.run.folder / relative if relative else None
    return path if path is not None and path.is_file() else None
