"""HTML pages to manage a project: its settings (owners), members and label classes.

The pages are thin: they check access like the API does (404 for non-members, 403 where the role
lacks the capability), render what the role may do, and leave every read and write after the
first paint to the REST API from the browser (static/js/annotate/), so every rule and every
error message is the API's.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from .access import access_project_by_id
from .models import Role
from .permissions import ROLE_CAPABILITIES, Can, role_allows

# What each capability lets a member do, in words, for the members page.
CAPABILITY_WORDS: dict[Can, str] = {
    Can.VIEW: "see images, annotations, versions and results",
    Can.ANNOTATE: "change annotations, image status and split",
    Can.UPLOAD: "add images",
    Can.REVIEW: "accept or reject an image's annotations",
    Can.MANAGE: "change project settings, labels and members; split, import and delete",
}


def role_table() -> dict:
    """Rows (one per role) of which capabilities it has, from :data:`ROLE_CAPABILITIES`."""
    capabilities = list(Can)
    rows = []
    for role in Role.values:
        allowed = ROLE_CAPABILITIES[role]
        rows.append({
            "role": role,
            "cells": [cap in allowed for cap in capabilities],
            "summary": "May " + "; ".join(CAPABILITY_WORDS[cap] for cap in capabilities if cap in allowed) + ".",
        })
    return {"capabilities": [{"key": cap.value, "words": CAPABILITY_WORDS[cap]} for cap in capabilities], "rows": rows}


def _api_urls(project) -> dict:
    return {
        "project": reverse("project-detail-api", args=[project.pk]),
        "members": reverse("member-list", args=[project.pk]),
        "labels": reverse("label-list", args=[project.pk]),
    }


@login_required
def project_settings(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id, can=Can.MANAGE)
    config = {"projectId": project.pk, "name": project.name, "api": _api_urls(project),
              "listUrl": reverse("project-list")}
    return render(request, "annotate/project_settings.html", {"project": project, "config": config})


@login_required
def project_members(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    can_manage = role_allows(project.user_role, Can.MANAGE)
    table = role_table()
    config = {
        "projectId": project.pk, "canManage": can_manage, "me": request.user.get_username(),
        "roles": Role.values, "roleSummaries": {row["role"]: row["summary"] for row in table["rows"]},
        "api": _api_urls(project),
    }
    return render(request, "annotate/project_members.html", {
        "project": project, "config": config, "can_manage": can_manage, "role_table": table, "roles": Role.values,
        "default_role": Role.ANNOTATOR,
    })


@login_required
def project_labels(request, project_id: int):
    project = access_project_by_id(user=request.user, project_id=project_id)
    can_manage = role_allows(project.user_role, Can.MANAGE)
    config = {"projectId": project.pk, "canManage": can_manage, "api": _api_urls(project)}
    return render(request, "annotate/project_labels.html", {"project": project, "config": config, "can_manage": can_manage})


def register_sections() -> None:
    """The project page's links to these pages (annotate.hub), called from the app's ``ready``."""
    from .hub import section_register
    from .models import LabelClass, Membership

    section_register("labels", title="Labels", url_name="label-list-page", order=20,
                     count=lambda project: LabelClass.objects.filter(project=project).count())
    section_register("members", title="Members", url_name="member-list-page", order=30,
                     count=lambda project: Membership.objects.filter(project=project).count())
    section_register("settings", title="Settings", url_name="project-settings-page", order=95, can=Can.MANAGE.value)
