"""Builders for export tests: open an export (versions are built with the root conftest's ``build_version``)."""

from __future__ import annotations

import io
import zipfile

import pytest

from export import services


@pytest.fixture
def export_zip():
    """``export_zip(version, fmt, images=True)`` → an open ZipFile of the export (made in memory)."""

    def make(version, fmt: str, images: bool = True) -> zipfile.ZipFile:
        data = b"".join(services.export_chunks(version=version, fmt=fmt, with_images=images))
        return zipfile.ZipFile(io.BytesIO(data))

    return make
