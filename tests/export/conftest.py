"""Builders for version and export tests: annotate images, build a version, open an export."""

from __future__ import annotations

import io
import zipfile

import pytest

from annotate import services as annotate_services
from annotate.models import Image
from export import services
from export.models import DatasetVersion


def annotate(image: Image, items: list[tuple], *, user=None) -> None:
    """Replace an image's annotations with ``(label, kind, geometry[, attributes[, source]])`` tuples."""
    payload = []
    for item in items:
        label, kind, geometry = item[:3]
        entry = {"label": label.pk, "kind": kind, "geometry": geometry}
        if len(item) > 3:
            entry["attributes"] = item[3]
        if len(item) > 4:
            entry["source"] = item[4]
        payload.append(entry)
    image.refresh_from_db()
    cleaned = annotate_services.annotations_validate(image=image, items=payload)
    annotate_services.annotations_replace(image=image, expected_revision=image.revision, items=cleaned, user=user)


def set_split(images: list[Image], split: str) -> None:
    Image.objects.filter(pk__in=[i.pk for i in images]).update(split=split, split_locked=True)


@pytest.fixture
def build_version(django_capture_on_commit_callbacks, users):
    """``build_version(project, **params)`` → the built (refreshed) version; runs the real job."""

    def build(project, **params) -> DatasetVersion:
        name = params.pop("name", "")
        with django_capture_on_commit_callbacks(execute=True):
            version = services.version_create(project=project, created_by=users["owner"], name=name, params=params)
        version.refresh_from_db()
        return version

    return build


@pytest.fixture
def export_zip():
    """``export_zip(version, fmt, images=True)`` → an open ZipFile of the export (made in memory)."""

    def make(version, fmt: str, images: bool = True) -> zipfile.ZipFile:
        data = b"".join(services.export_chunks(version=version, fmt=fmt, with_images=images))
        return zipfile.ZipFile(io.BytesIO(data))

    return make
