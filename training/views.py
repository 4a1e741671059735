"""HTML pages: a project's training runs (with a form to start one) and a run's page (live
progress, per-epoch table, plots, variant table with downloads).

They read through the same selectors as the API; the run page then follows the run through the
API itself (an ES module polling ``GET /api/training-runs/{id}/``), and the list page starts runs
with ``POST /api/projects/{id}/training-runs/``, so both show exactly what the API answers.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from annotate.access import access_project_by_id
from annotate.permissions import Can, role_allows
from augment.selectors import recipes_of
from datasets.models import DatasetVersion
from datasets.selectors import versions_of

from . import catalog, selectors
from .validation import DEFAULTS

RUNS_SHOWN = 200


def history_columns(history: list[dict], headline: str) -> list[str]:
    """The per-epoch table's columns: epoch, the losses, the validation headline, other metrics, lr, seconds."""
    keys: list[str] = []
    for entry in history:
        for key in entry:
            if key not in keys:
                keys.append(key)
    first = ["epoch", "loss", "val_loss", f"val_{headline}"]
    last = ["lr", "seconds"]
    middle = sorted(k for k in keys if k not in first and k not in last)
    return [k for k in first if k in keys] + middle + [k for k in last if k in keys]


@login_required
def run_page(request, run_id: int):
    run = selectors.access_run_by_id(user=request.user, run_id=run_id)
    history = run.history or []
    return render(request, "training/run_page.html", {
        "run": run,
        "project": run.project,
        "history": history,
        "columns": history_columns(history, run.headline),
        "artifacts": list(selectors.artifacts_of(run=run)),
        "plots": [(name, reverse("training-run-plot", args=[run.pk, name])) for name in sorted(run.plots or {})],
        "can_manage": role_allows(run.user_role, Can.MANAGE),
    })


@login_required
def run_list_page(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    version = request.GET.get("version")
    version_id = int(version) if (version or "").isdigit() else None
    runs = list(selectors.runs_of(project=project, version_id=version_id)[:RUNS_SHOWN])
    can_manage = role_allows(project.user_role, Can.MANAGE)
    return render(request, "training/run_list.html", {
        "project": project,
        "runs": runs,
        "version_id": version_id,
        "can_manage": can_manage,
        "versions": [v for v in versions_of(project=project) if v.status == DatasetVersion.Status.READY] if can_manage else [],
        "recipes": list(recipes_of(project=project)) if can_manage else [],
        "tasks": catalog.TASKS,
        "architectures": [(name, a.title, ",".join(a.tasks)) for name, a in catalog.ARCHITECTURES.items()],
        "schedules": catalog.SCHEDULES,
        "defaults": DEFAULTS,
    })
