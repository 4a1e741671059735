"""HTML pages: the project list, a project's image grid and the labeling page. Data comes from
the selectors, so pages show exactly what the API would show the same user; the labeling page
itself talks to the REST API from the browser."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import render
from django.urls import reverse

from . import selectors
from .access import access_image_by_id, access_project_by_id
from .hub import sections_for
from .models import Image, Split
from .permissions import Can, role_allows

GRID_PAGE_SIZE = 60


@login_required
def project_list(request):
    projects = selectors.project_list_with_counts(user=request.user)
    return render(request, "annotate/project_list.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    filters = _image_filters(request.GET)
    images = selectors.images_of_project(project=project, **filters)
    page = Paginator(images, GRID_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "annotate/project_detail.html",
        {
            "project": project,
            "sections": sections_for(project, allowed=lambda can: role_allows(project.user_role, Can(can))),
            "can_manage": role_allows(project.user_role, Can.MANAGE),
            "page": page,
            "split_counts": selectors.split_counts(project=project),
            "labels": selectors.labels_of(project=project),
            "filters": filters,
            "splits": Split.values,
            "statuses": Image.Status.values,
            "sources": Image.Source.values,
            "query": query.urlencode(),
            "filter_query": _filter_query(request.GET),
        },
    )


FILTER_KEYS = ("split", "status", "label", "source", "rejected")


def _image_filters(params: QueryDict) -> dict:
    """The grid's filters from a query string; unknown or malformed values are ignored."""
    filters = {key: params.get(key) or None for key in ("split", "status", "source")}
    label = params.get("label")
    filters["label"] = int(label) if label and label.isdigit() else None
    filters["rejected"] = True if params.get("rejected") in ("1", "true") else None
    return filters


def _filter_query(params: QueryDict) -> str:
    """The filter part of a query string, carried from the grid to the labeling page and back."""
    kept = QueryDict(mutable=True)
    for key in FILTER_KEYS:
        if params.get(key):
            kept[key] = params[key]
    return kept.urlencode()


@login_required
def image_label(request, project_id: int, image_id: int):
    """The labeling page of one image. Previous/next follow the grid's filter (by id, like the
    grid), so a labeler walks through exactly the images they filtered for."""
    image = access_image_by_id(user=request.user, image_id=image_id)
    if image.project_id != project_id:
        raise Http404("No such image in this project.")
    project = image.project
    images = selectors.images_of_project(project=project, **_image_filters(request.GET))
    position = selectors.image_position(images=images, image=image)
    query = _filter_query(request.GET)
    suffix = f"?{query}" if query else ""

    def page_url(pk):
        return reverse("image-label", args=[project.pk, pk]) + suffix if pk else None

    role = image.user_role
    config = {
        "projectId": project.pk,
        "imageId": image.pk,
        "width": image.width,
        "height": image.height,
        "role": role,
        "canAnnotate": role_allows(role, Can.ANNOTATE),
        "canReview": role_allows(role, Can.REVIEW),
        "previousUrl": page_url(position.previous_id),
        "nextUrl": page_url(position.next_id),
        "projectUrl": reverse("project-detail", args=[project.pk]) + suffix,
        "api": {
            "labels": reverse("label-list", args=[project.pk]),
            "image": reverse("image-detail", args=[image.pk]),
            "file": reverse("image-file", args=[image.pk]),
            "annotations": reverse("image-annotations", args=[image.pk]),
            "review": reverse("image-review", args=[image.pk]),
        },
    }
    return render(
        request,
        "annotate/label.html",
        {"project": project, "image": image, "config": config, "splits": Split.values, "position": position},
    )
