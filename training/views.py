"""HTML pages: a project's training runs (with a form to start one) and a run's page (live
progress, per-epoch table, plots, variant table with downloads, robustness reports of its files).

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
from augment.profiles import PROFILES
from augment.selectors import recipes_of
from datasets.models import DatasetVersion
from datasets.selectors import versions_of
from jobs.models import Job

from . import catalog, robustness, selectors
from .models import RobustnessReport
from .templatetags.training_tags import shown
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


def robustness_view(report: RobustnessReport) -> dict:
    """A report as the run page shows it: the table's columns (its severities) and cells, shown."""
    rows = [
        {
            "profile": row["profile"],
            "name": row["name"],
            "cells": [shown(row["metrics"][s - 1]) for s in report.severities],
            "mean": shown(row["mean_metric"]),
            "relative": shown(row["relative_corruption_error"]),
        }
        for row in robustness.report_table(report)
    ]
    overall = (report.summary or {}).get("overall") or {}
    return {
        "report": report,
        "rows": rows,
        "clean": shown(report.clean),
        "relative": shown(overall.get("relative_corruption_error")),
        "worst": (report.summary or {}).get("worst_profile") or "",
        "plot": reverse("training-run-robustness-plot", args=[report.run_id, report.pk])
        if rows and report.plot else "",
    }


@login_required
def run_page(request, run_id: int):
    run = selectors.access_run_by_id(user=request.user, run_id=run_id)
    history = run.history or []
    artifacts = list(selectors.artifacts_of(run=run))
    can_manage = role_allows(run.user_role, Can.MANAGE)
    return render(request, "training/run_page.html", {
        "run": run,
        "project": run.project,
        "history": history,
        "columns": history_columns(history, run.headline),
        "artifacts": artifacts,
        "plots": [(name, reverse("training-run-plot", args=[run.pk, name])) for name in sorted(run.plots or {})],
        "can_manage": can_manage,
        "robustness_reports": [robustness_view(r) for r in robustness.reports_of(run=run)],
        "robustness_variants": [
            robustness.variant_key(a) for a in artifacts
            if a.format in robustness.RUNNABLE_FORMATS and a.status == a.Status.OK
        ],
        "robustness_profiles": [(slug, p.name) for slug, p in PROFILES.items()],
        "can_report": can_manage and run.status == Job.Status.SUCCEEDED,
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
