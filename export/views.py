"""HTML page: a project's dataset versions, their counts, and download links for every format.

Data comes from the selectors, so the page shows what the API would show the same user; the
links are the API's export URLs (session authentication lets the browser download them).
"""

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.access import access_project_by_id
from annotate.models import SPLITS, Annotation, Image
from annotate.permissions import Can, role_allows
from datasets import selectors

from . import dataset_formats as formats


@login_required
def version_list(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    return render(
        request,
        "export/version_list.html",
        {"project": project, "versions": selectors.versions_of(project=project),
         "can_build": role_allows(project.user_role, Can.MANAGE),
         "image_sources": Image.Source.values, "annotation_sources": Annotation.Source.values},
    )


@login_required
def version_page(request, version_id: int):
    """One version: counts per split and class, parameters, hash, its images, downloads, runs.

    The page renders what the selectors give this user; the image grid, the downloads (and which
    formats are possible) and the training runs come from the API in the browser.
    """
    version = selectors.access_version_by_id(user=request.user, version_id=version_id)
    objects = (version.counts or {}).get("objects") or {}
    images = (version.counts or {}).get("images") or {}
    rows = [{"label": name, "cells": [objects.get(split, {}).get(name, 0) for split in SPLITS],
             "total": sum(objects.get(split, {}).get(name, 0) for split in SPLITS)}
            for name in version.label_names]
    return render(request, "export/version_page.html", {
        "version": version, "project": version.project, "splits": list(SPLITS),
        "image_row": [images.get(split, 0) for split in SPLITS], "class_rows": rows,
        "params_json": json.dumps(version.params or {}, indent=2, sort_keys=True),
        "formats": list(formats.WRITERS),
    })
