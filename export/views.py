"""HTML page: a project's dataset versions, their counts, and download links for every format.

Data comes from the selectors, so the page shows what the API would show the same user; the
links are the API's export URLs (session authentication lets the browser download them).
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.access import access_project_by_id
from datasets import selectors

from . import dataset_formats as formats


@login_required
def version_list(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    return render(
        request,
        "export/version_list.html",
        {"project": project, "versions": selectors.versions_of(project=project), "formats": list(formats.WRITERS)},
    )
