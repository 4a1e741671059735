"""The "Splits and health" page of a project: the split dialog (a dry run shows the resulting
counts before the user confirms) and the health report. The page itself calls the REST API —
``POST /api/projects/{id}/split``, ``GET /api/projects/{id}/health``, ``PATCH /api/images/{id}/`` —
so every rule and message is the API's."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from .access import access_project_by_id
from .models import Image, Project
from .permissions import Can, role_allows


def unannotated_count(project: Project) -> int:
    """The hub's count for this section: images without any annotation (one query)."""
    return Image.objects.filter(project=project, annotations__isnull=True).count()


@login_required
def project_health_page(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    role = project.user_role
    config = {
        "projectId": project.pk,
        "canSplit": role_allows(role, Can.MANAGE),
        "canMove": role_allows(role, Can.ANNOTATE),
        "labelUrl": reverse("image-label", args=[project.pk, 0]).replace("/0/", "/{id}/"),
        "api": {
            "split": reverse("project-split", args=[project.pk]),
            "health": reverse("project-health", args=[project.pk]),
            "image": reverse("image-detail", args=[0]).replace("/0/", "/{id}/"),
            "thumbnail": reverse("image-thumbnail", args=[0]).replace("/0/", "/{id}/"),
        },
    }
    return render(request, "annotate/health.html", {"project": project, "config": config})
