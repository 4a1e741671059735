"""HTML pages for getting images into a project and following the work that does it: the upload
page (files and zips), the dataset import page and the project's jobs page.

The pages only render the shell and who may do what; every action goes through the REST API from
the browser (static/js/intake/), so every rule and every error message is the API's. The jobs
page lives here because ``jobs`` may not import ``annotate``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from jobs.models import Job

from .access import access_project_by_id
from .permissions import Can, role_allows

IMPORT_FORMATS = ("coco", "yolo", "voc", "imagefolder")


def active_jobs_count(project) -> int:
    """The hub's count for the jobs section: the project's queued and running jobs (one query)."""
    return Job.objects.filter(project=project, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).count()


def _config(project, **extra) -> dict:
    return {
        "projectId": project.pk,
        "role": project.user_role,
        "projectUrl": reverse("project-detail", args=[project.pk]),
        "jobsUrl": reverse("project-jobs-page", args=[project.pk]),
        "api": {
            "images": reverse("image-list", args=[project.pk]),
            "zip": reverse("image-zip-upload", args=[project.pk]),
            "import": reverse("project-import", args=[project.pk]),
            "jobs": reverse("job-list"),
        },
        # The import API's formats (export may not be imported from here; the API checks the choice).
        "formats": list(IMPORT_FORMATS),
        **extra,
    }


def _page(request, project_id: int, template: str, *, can: Can | None, crumb: str, extra: dict | None = None):
    project = access_project_by_id(user=request.user, project_id=project_id)
    allowed = can is None or role_allows(project.user_role, can)
    return render(request, template, {
        "project": project, "allowed": allowed, "crumb": crumb,
        "config": _config(project, allowed=allowed, **(extra or {})),
    })


@login_required
def upload_page(request, project_id: int):
    """Drop files or zips; every member sees the page, only those who may upload get its controls."""
    return _page(request, project_id, "intake/upload.html", can=Can.UPLOAD, crumb="Upload")


@login_required
def import_page(request, project_id: int):
    """Import a dataset zip (coco, yolo, voc, imagefolder); the controls are for owners (the API's rule)."""
    return _page(request, project_id, "intake/import.html", can=Can.MANAGE, crumb="Import")


@login_required
def jobs_page(request, project_id: int):
    """The project's jobs, newest first, followed live. Cancel is offered where
    :func:`jobs.selectors.job_can_cancel` would allow it (owners: every job; others: their own);
    the API still decides."""
    return _page(request, project_id, "intake/jobs.html", can=None, crumb="Jobs",
                 extra={"username": request.user.get_username(), "superuser": request.user.is_superuser})
