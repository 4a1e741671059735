"""Writes of training runs: start (validated first, then queued as a ``training.run`` job), re-run,
cancel, delete, and the job's work (run the training process, store what it reports).

Every way to start a run — the API, the admin's add form, ``manage.py train`` — goes through
:func:`training_run_start`, so each refuses the same input with the same message: a
``ValidationError`` naming the field (see :mod:`training.validation`), with nothing written or
queued. The job runs on the ``train`` queue; each run trains in a process of its own started
through :func:`jobs.processes.subprocess_run` (TensorFlow never loads in the web process or the
Celery worker). A run whose process or worker died resumes from its last checkpoint when the job
runs again (a retry, a redelivery, or the stale-job sweep: the kind is resumable).
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Project
from jobs.processes import SubprocessFailed, subprocess_run
from jobs.runner import JobContext, JobError
from jobs.services import job_cancel, job_create, job_submit

from .models import ModelArtifact, TrainingRun
from .protocol import STATE_FILE
from .recording import EventHook, RunRecorder
from .runspec import run_spec_build
from .validation import run_params_clean

RUN_KIND = "training.run"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The settings a re-run copies (everything the user chose; not what the run produced).
SETTINGS_FIELDS = (
    "version", "task", "architecture", "input_size", "epochs", "batch_size", "learning_rate", "schedule",
    "warmup_epochs", "options", "recipe", "init_from", "init_weights_file", "seed",
)


class TrainingProcessKilled(RuntimeError):
    """The training process was killed by a signal (SIGKILL: out of memory, an operator): worth
    another attempt, which resumes from the last checkpoint."""


# --- starting -------------------------------------------------------------------------------
def training_run_start(
    *, project: Project, user, enqueue: bool = True, allow_any_weights_path: bool = False, **params: Any
) -> TrainingRun:
    """Check the settings, then record the run and queue its job (sent on commit).

    ``params``: version, task, architecture, input_size, epochs, batch_size, learning_rate,
    schedule, warmup_epochs, options, recipe, init_from, init_weights_file, seed (ids or objects
    for the foreign keys; unset ones take their defaults). Raises ``ValidationError`` naming each
    field at fault; nothing is written then. ``enqueue=False`` leaves the job for the caller to run
    (``manage.py train`` runs it in its own process).
    """
    cleaned = run_params_clean(project=project, params=params, allow_any_weights_path=allow_any_weights_path)
    with transaction.atomic():
        create = job_submit if enqueue else job_create
        job = create(kind=RUN_KIND, created_by=user, project=project, params={})
        run = TrainingRun.objects.create(project=project, created_by=user, job=job, **cleaned)
        job.params = {"run": run.pk, "version": cleaned["version"].pk, "task": run.task, "architecture": run.architecture}
        job.message = "Waiting for a training worker (queue train)"
        job.save(update_fields=["params", "message"])
    return run


def run_settings(run: TrainingRun) -> dict[str, Any]:
    """The settings a run was started with, as :func:`training_run_start` takes them."""
    values: dict[str, Any] = {}
    for name in SETTINGS_FIELDS:
        field = TrainingRun._meta.get_field(name)
        values[name] = getattr(run, field.attname)
    values["options"] = dict(run.options or {})
    return values


def training_run_rerun(*, run: TrainingRun, user, enqueue: bool = True) -> TrainingRun:
    """A new run with the same settings (checked again: the version or the initial weights may be gone)."""
    params = run_settings(run)
    if params["version"] is None:
        raise ValidationError({"version": f"Run {run.pk}'s dataset version was deleted; choose another."})
    # The weights file was accepted when the run started (from wherever its starter could name it).
    return training_run_start(project=run.project, user=user, enqueue=enqueue, allow_any_weights_path=True, **params)


def training_run_cancel(*, run: TrainingRun):
    """Cancel the run's job: at once while queued, at the process's next report while it trains
    (the process is killed; the history so far stays). Raises
    :class:`jobs.services.JobAlreadyFinished` once it has ended."""
    if run.job is None:
        raise ValidationError({"detail": "This run has no job to cancel."})
    return job_cancel(job=run.job)


def training_run_delete(*, run: TrainingRun) -> None:
    """Delete a run that has ended, with its folder (checkpoints, exported files, plots)."""
    if run.job is not None and not run.job.is_terminal:
        raise ValidationError({"detail": f"Run {run.pk} is {run.job.status}; cancel it first."})
    folder = run.folder
    with transaction.atomic():
        TrainingRun.objects.filter(pk=run.pk).delete()
        transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))


# --- the job's work ---------------------------------------------------------------------------
def worker_command(folder: Path) -> list[str]:
    return [*[str(part) for part in settings.TRAINING_WORKER_COMMAND], str(folder)]


def _orphans_stop(command: list[str]) -> int:
    """Kill training processes of this very run left by a worker that died (a SIGKILLed Celery
    worker does not take its child with it), so two never write one run folder. Linux only."""
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    wanted = [part.encode() for part in command]
    killed = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        # The same command for the same folder (the interpreter's path may be spelled differently).
        if len(argv) == len(wanted) and argv[1:] == wanted[1:]:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def _headline_result(run: TrainingRun) -> dict[str, Any]:
    artifacts = list(run.artifacts.values_list("status", flat=True))
    headline = run.headline
    return {
        "run": run.pk,
        "best_epoch": run.best_epoch,
        "epochs": run.epochs_done,
        "metric": headline,
        "value": (run.metrics or {}).get(headline),
        "artifacts": artifacts.count(ModelArtifact.Status.OK),
        "failed_artifacts": artifacts.count(ModelArtifact.Status.FAILED),
    }


def training_run_execute(*, run: TrainingRun, ctx: JobContext, on_event: EventHook | None = None) -> dict:
    """Job work: write the spec, run the training process to its end, store what it reports.

    A run folder holding ``state.json`` is a run that trained before (its process or worker died):
    the process resumes after its last checkpoint, and the history already stored is kept and
    merged by epoch number. ``on_event(event, payload)`` sees each protocol event once stored
    (the command's progress bar). A process that fails ends the job with its stderr's tail; one
    killed by a signal raises :class:`TrainingProcessKilled`, which the job retries.
    """
    folder = run.folder
    folder.mkdir(parents=True, exist_ok=True)
    resuming = (folder / STATE_FILE).is_file()
    spec = run_spec_build(run)
    spec.write(folder)
    TrainingRun.objects.filter(pk=run.pk).update(labels=spec.labels)
    run.labels = spec.labels
    command = worker_command(folder)
    if _orphans_stop(command):
        ctx.log("Stopped a training process of this run left by a worker that died.")
    ctx.progress(0.0, ("Resuming" if resuming else "Starting") + " the training process", force=True)
    recorder = RunRecorder(run, ctx, on_event)
    threads = str(spec.threads)
    env = {
        "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads,
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }
    try:
        subprocess_run(command, on_line=recorder.line, ctx=ctx, cwd=PROJECT_ROOT, env=env, name="The training process")
    except SubprocessFailed as exc:
        if exc.code < 0:
            try:
                name = signal.Signals(-exc.code).name
            except ValueError:
                name = f"signal {-exc.code}"
            raise TrainingProcessKilled(
                f"The training process was killed ({name}; out of memory?). Its last words: {exc.stderr_tail.strip()[-600:]}"
            ) from None
        raise JobError(str(exc)) from None
    if recorder.done is None:
        raise JobError("The training process ended without reporting the end of the run (no DONE line).")
    run.refresh_from_db()
    return _headline_result(run)
