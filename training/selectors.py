"""Reads of training runs and their files, scoped by project membership (:mod:`annotate.access`):
404 for a user who may not see the project, 403 for a role that may not do the action."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404

from annotate.access import access_by_id
from annotate.models import Project
from annotate.permissions import Can

from .models import ModelArtifact, TrainingRun
from .recording import inside

RUN_RELATED = ("project", "version", "job__created_by", "created_by", "recipe", "init_from")


def runs_of(*, project: Project, version_id: int | None = None) -> QuerySet[TrainingRun]:
    runs = TrainingRun.objects.filter(project=project).select_related(*RUN_RELATED)
    if version_id is not None:
        runs = runs.filter(version_id=version_id)
    return runs.order_by("-created_at", "-id")


def access_run_by_id(*, user, run_id: int, can: Can = Can.VIEW) -> TrainingRun:
    """The run with its project, version and job (``run.user_role`` set), in one query."""
    runs = TrainingRun.objects.select_related(*RUN_RELATED)
    return access_by_id(runs, user=user, pk=run_id, can=can, not_found="No such training run.")


def artifacts_of(*, run: TrainingRun) -> QuerySet[ModelArtifact]:
    return ModelArtifact.objects.filter(run=run).order_by("id")


def access_artifact_by_id(*, user, artifact_id: int, can: Can = Can.VIEW) -> ModelArtifact:
    artifacts = ModelArtifact.objects.select_related("run__project", "run__version", "run__job")
    return access_by_id(
        artifacts, user=user, pk=artifact_id, can=can, project_field="run__project_id", not_found="No such model file."
    )


def run_plot_path(*, run: TrainingRun, name: str) -> Path:
    """The file of one of the run's plots; 404 when the run has no such plot (or it is gone)."""
    relative = (run.plots or {}).get(name)
    clean = inside(run.folder, relative) if relative else None
    path = run.folder / clean if clean else None
    if path is None or not path.is_file():
        raise Http404("No such plot.")
    return path
