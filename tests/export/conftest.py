"""Builders for export tests: open an export (versions are built with the root conftest's ``build_version``),
and a version whose objects have several parts (instance groups)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from annotate.geometry import mask_to_rle
from export import services
from tests.conftest import annotate, set_split


@pytest.fixture
def export_zip():
    """``export_zip(version, fmt, images=True)`` → an open ZipFile of the export (made in memory)."""

    def make(version, fmt: str, images: bool = True) -> zipfile.ZipFile:
        data = b"".join(services.export_chunks(version=version, fmt=fmt, with_images=images))
        return zipfile.ZipFile(io.BytesIO(data))

    return make


def rect_mask(y0: int, y1: int, x0: int, x1: int, height: int = 48, width: int = 64) -> dict:
    array = np.zeros((height, width), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


@pytest.fixture
def grouped(project, labels, add_images, build_version):
    """Four 64x48 images (train, train, val, test) whose objects are instance groups or single parts.

    train 0: a face as mask + box + keypoints (like a synthetic character; the box a little larger
    than the mask), a cat as box + mask, a face as keypoints + box. train 1: single parts only, a
    dog mask, a cat polygon, face keypoints and a dog box. val: a cat as polygon + box and a dog
    box. test: a background image. 9 objects in 15 annotations.
    """
    face, cat, dog = labels["face"], labels["cat"], labels["dog"]
    images = add_images(4, seed=80)
    annotate(images[0], [
        (face, "mask", rect_mask(5, 30, 4, 24), 1),
        (face, "box", {"x": 3.5, "y": 4.5, "w": 21, "h": 26}, 1),
        (face, "keypoints", {"points": [[8, 10, 2], [18, 10, 2], [13, 20, 1]]}, 1),
        (cat, "box", {"x": 30, "y": 4, "w": 20, "h": 12}, 2),
        (cat, "mask", rect_mask(4, 16, 30, 50), 2),
        (face, "keypoints", {"points": [[40, 30, 2], [50, 30, 2], [45, 40, 2]]}, 3),
        (face, "box", {"x": 38, "y": 28, "w": 14, "h": 14}, 3),
    ])
    annotate(images[1], [
        (dog, "mask", rect_mask(30, 45, 5, 30)),
        (cat, "polygon", {"polygons": [[35, 20, 60, 20, 60, 45, 35, 45]]}),
        (face, "keypoints", {"points": [[10, 5, 2], [20, 8, 2], [0, 0, 0]]}),
        (dog, "box", {"x": 40, "y": 2, "w": 20, "h": 10}),
    ])
    annotate(images[2], [
        (cat, "polygon", {"polygons": [[2, 2, 30, 2, 30, 30, 2, 30]]}, 7),
        (cat, "box", {"x": 1.5, "y": 1.5, "w": 29, "h": 29}, 7),
        (dog, "box", {"x": 35, "y": 10, "w": 20, "h": 20}),
    ])
    set_split(images[:2], "train")
    set_split(images[2:3], "val")
    set_split(images[3:], "test")
    return build_version(project)
