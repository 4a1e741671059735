"""HTML pages: the project list and a project's image grid. Data comes from the selectors, so
pages show exactly what the API would show the same user."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from . import selectors
from .models import Image, Split

GRID_PAGE_SIZE = 60


@login_required
def project_list(request):
    projects = selectors.project_list_with_counts(user=request.user)
    return render(request, "annotate/project_list.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    project = selectors.project_get_for_user(user=request.user, project_id=project_id)
    filters = {key: request.GET.get(key) or None for key in ("split", "status", "source")}
    label = request.GET.get("label")
    filters["label"] = int(label) if label and label.isdigit() else None
    images = selectors.images_of_project(project=project, **filters)
    page = Paginator(images, GRID_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "annotate/project_detail.html",
        {
            "project": project,
            "page": page,
            "split_counts": selectors.split_counts(project=project),
            "labels": selectors.labels_of(project=project),
            "filters": filters,
            "splits": Split.values,
            "statuses": Image.Status.values,
            "sources": Image.Source.values,
            "query": query.urlencode(),
        },
    )
