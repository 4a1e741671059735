"""HTML page of the synth app: a project's synth jobs, a form to launch one, live progress and the first
images as they arrive. The page reads through the same selectors as the API and launches, follows and
cancels jobs through the API itself (fetch, session auth), so it shows exactly what the API returns."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.access import access_project_by_id
from annotate.permissions import Can, role_allows
from annotate.selectors import labels_of

from . import selectors
from .models import Asset
from .services import synth_job_images
from .spec import BLENDER_RANGES, BLENDINGS, BUILTIN_MODELS, INTEGER_RANGES

JOBS_SHOWN = 20
FIRST_IMAGES = 12

# The Blender ranges the launch form offers, grouped as on the page: (group, [(spec field, label, unit)]).
# Defaults and limits come from the spec itself, so the form always starts from what the API would fill in.
RANGE_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Camera",
        (
            ("camera_distance", "Distance", "m, beyond the objects' ring"),
            ("camera_elevation", "Elevation", "degrees above the ground"),
            ("camera_azimuth", "Azimuth", "degrees"),
            ("focal_length", "Focal length", "mm on a 36 mm sensor"),
        ),
    ),
    (
        "Lights",
        (
            ("light_count", "Count", "lights"),
            ("light_power", "Power", "W"),
            ("light_temperature", "Colour temperature", "K"),
        ),
    ),
    (
        "Objects and materials",
        (
            ("object_scale", "Scale", "× the model's size"),
            ("hue_jitter", "Hue jitter", "of the colour wheel"),
            ("roughness", "Roughness", "0 glossy, 1 matte"),
        ),
    ),
)


def _plain(value: float) -> int | float:
    """4.0 as 4 and 1e6 as 1000000, so number inputs show what people would type."""
    return int(value) if float(value).is_integer() else value


def blender_range_fields() -> list[dict]:
    """The form's range fields with spec_clean's defaults and limits, grouped for the page."""
    groups = []
    for title, fields in RANGE_GROUPS:
        rows = []
        for name, label, unit in fields:
            (low, high), lowest, highest = BLENDER_RANGES[name]
            rows.append(
                {
                    "name": name,
                    "label": label,
                    "unit": unit,
                    "min": _plain(low),
                    "max": _plain(high),
                    "lowest": _plain(lowest),
                    "highest": _plain(highest),
                    "step": "1" if name in INTEGER_RANGES else "any",
                }
            )
        groups.append({"title": title, "fields": rows})
    return groups


def shown_message(synth_job) -> str:
    """The job's message as the page shows it (jobs stored before the message said which worker
    it waits for said "render worker" for cut-and-paste jobs too)."""
    message = synth_job.job.message or ""
    if synth_job.generator != "blender":
        message = message.replace("Waiting for a render worker", "Waiting for a worker")
    return message


@login_required
def synth_page(request, project_id: int):
    """Members see the project's synth jobs; those who may add images also get the launch form."""
    project = access_project_by_id(user=request.user, project_id=project_id)
    assets = list(selectors.assets_of(project=project))
    jobs = list(selectors.synth_jobs_of(project=project)[:JOBS_SHOWN])
    for synth_job in jobs:
        synth_job.first_image_ids = synth_job_images(synth_job=synth_job, limit=FIRST_IMAGES)
        synth_job.shown_message = shown_message(synth_job)
    labels = [
        {
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "keypoint_names": label.keypoint_names,
            "models": [a for a in assets if a.kind == Asset.Kind.MODEL3D and a.label_id == label.id],
            "cutouts": [a for a in assets if a.kind == Asset.Kind.CUTOUT and a.label_id == label.id],
        }
        for label in labels_of(project=project)
    ]
    return render(
        request,
        "synth/synth_page.html",
        {
            "project": project,
            "labels": labels,
            "builtins": BUILTIN_MODELS,
            "blendings": BLENDINGS,
            "range_groups": blender_range_fields(),
            "backgrounds": [a for a in assets if a.kind == Asset.Kind.BACKGROUND],
            "hdris": [a for a in assets if a.kind == Asset.Kind.HDRI],
            "asset_kinds": Asset.Kind.choices,
            "jobs": jobs,
            "first_images": FIRST_IMAGES,
            "can_create": role_allows(project.user_role, Can.UPLOAD),
        },
    )
