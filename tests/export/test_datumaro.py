"""datumaro (the dataset library behind CVAT) reads our COCO, VOC and YOLO exports and sees the
same images, splits and objects. It runs in its own virtual environment (it needs numpy >= 2),
made by ``make datumaro-venv``; the tests skip, saying so, when it is missing outside CI and
fail in CI (``CI=true`` or ``REQUIRE_REAL_DATA=1``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from annotate.geometry import mask_to_rle
from tests.conftest import annotate, set_split

ROOT = Path(__file__).resolve().parent.parent.parent
DATUMARO_PYTHON = Path(os.environ.get("DATUMARO_PYTHON", ROOT / ".venv-datumaro" / "bin" / "python"))
SCRIPT = ROOT / "scripts" / "datumaro_check.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def datumaro_python() -> Path:
    required = os.environ.get("CI", "").lower() == "true" or os.environ.get("REQUIRE_REAL_DATA") == "1"
    if not DATUMARO_PYTHON.exists():
        if required:
            pytest.fail(f"{DATUMARO_PYTHON} is missing; run `make datumaro-venv` (CI must run the datumaro checks).")
        pytest.skip(f"datumaro's virtual environment is missing ({DATUMARO_PYTHON}); create it with `make datumaro-venv`")
    return DATUMARO_PYTHON


def datumaro_read(python: Path, folder: Path, fmt: str) -> dict:
    done = subprocess.run([str(python), str(SCRIPT), str(folder), fmt], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def extract(archive, folder: Path) -> Path:
    archive.extractall(folder)
    return folder


@pytest.fixture
def detection_version(project, labels, add_images, build_version):
    """Seven images over three splits: boxes, a polygon and a mask; one background image."""
    images = add_images(7)
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[10:30, 5:25] = 1
    annotate(images[0], [(labels["cat"], "box", {"x": 4, "y": 6, "w": 20, "h": 10}),
                         (labels["dog"], "box", {"x": 30, "y": 5, "w": 20, "h": 30})])
    annotate(images[1], [(labels["dog"], "polygon", {"polygons": [[30, 5, 50, 5, 40, 30]]})])
    annotate(images[2], [(labels["cat"], "mask", mask_to_rle(mask))])
    annotate(images[3], [(labels["cat"], "box", {"x": 0, "y": 0, "w": 64, "h": 48})])
    annotate(images[4], [(labels["dog"], "box", {"x": 1, "y": 1, "w": 10, "h": 10}),
                         (labels["dog"], "box", {"x": 20, "y": 20, "w": 10, "h": 10})])
    set_split(images[:3], "train")
    set_split(images[3:5], "val")
    set_split(images[5:], "test")
    return build_version(project)


def _expected(version) -> tuple[dict, dict]:
    subsets = {s: n for s, n in version.counts["images"].items() if n}
    per_label = {}
    for split_counts in version.counts["objects"].values():
        for name, n in split_counts.items():
            if n:
                per_label[name] = per_label.get(name, 0) + n
    return subsets, per_label


def test_datumaro_reads_the_coco_export(datumaro_python, detection_version, export_zip, tmp_path):
    seen = datumaro_read(datumaro_python, extract(export_zip(detection_version, "coco"), tmp_path), "coco_instances")
    subsets, per_label = _expected(detection_version)
    assert seen["items"] == detection_version.image_count == 7
    assert seen["subsets"] == subsets
    assert seen["per_label"] == per_label
    assert seen["labels"][:3] == ["cat", "dog", "face"]


def test_datumaro_reads_the_voc_export(datumaro_python, detection_version, export_zip, tmp_path):
    seen = datumaro_read(datumaro_python, extract(export_zip(detection_version, "voc"), tmp_path), "voc_detection")
    subsets, per_label = _expected(detection_version)
    assert seen["items"] == 7 and seen["subsets"] == subsets
    assert seen["annotations"].get("bbox") == sum(per_label.values())
    assert seen["per_label"] == per_label


def test_datumaro_reads_the_yolo_export(datumaro_python, project, labels, add_images, build_version, export_zip, tmp_path):
    images = add_images(5)
    annotate(images[0], [(labels["cat"], "box", {"x": 4, "y": 6, "w": 20, "h": 10}),
                         (labels["dog"], "box", {"x": 30, "y": 5, "w": 20, "h": 30})])
    annotate(images[1], [(labels["dog"], "box", {"x": 0, "y": 0, "w": 64, "h": 48})])
    annotate(images[3], [(labels["cat"], "box", {"x": 8, "y": 8, "w": 8, "h": 8})])
    set_split(images[:3], "train")
    set_split(images[3:], "val")
    version = build_version(project)
    seen = datumaro_read(datumaro_python, extract(export_zip(version, "yolo"), tmp_path), "yolo")
    subsets, per_label = _expected(version)
    assert seen["items"] == 5 and seen["subsets"] == subsets
    assert seen["per_label"] == per_label


def test_datumaro_reads_the_voc_object_masks(datumaro_python, detection_version, export_zip, tmp_path):
    folder = extract(export_zip(detection_version, "voc"), tmp_path)
    seen = datumaro_read(datumaro_python, folder, "voc_instance_segmentation")
    # the two segmented objects (a polygon and a mask, both in train) come back as instance masks
    assert seen["subsets"] == {"train": 2}
    assert seen["annotations"]["mask"] == 2
    full = datumaro_read(datumaro_python, folder, "voc")  # class masks must match labelmap.txt colours
    assert full["items"] == 7 and full["annotations"]["bbox"] == 7


# --- instance groups: datumaro sees one object per group ------------------------------------
# (datumaro 1.13 reads YOLO detection lines only, so the pose and segment lines of a grouped
# version are checked by test_export_formats and the round trips instead.)
def _objects_per_label(version, *, without_keypoints_only: bool = False) -> dict:
    """Objects of the version per label (from its frozen rows); optionally leaving out objects that
    are only keypoints (VOC has no form for them)."""
    from annotate.geometry import objects_of
    from datasets.models import VersionImage

    out: dict[str, int] = {}
    for row in VersionImage.objects.filter(version=version):
        for obj in objects_of(row.annotations):
            if without_keypoints_only and obj.box is None and obj.outline is None:
                continue
            out[obj.label] = out.get(obj.label, 0) + 1
    return out


def test_datumaro_reads_grouped_coco_as_one_object_per_group(datumaro_python, grouped, export_zip, tmp_path):
    folder = extract(export_zip(grouped, "coco"), tmp_path)
    seen = datumaro_read(datumaro_python, folder, "coco_instances")
    subsets, per_label = _expected(grouped)
    assert seen["items"] == 4 and seen["subsets"] == subsets
    assert seen["per_label"] == per_label == _objects_per_label(grouped) == {"cat": 3, "dog": 3, "face": 3}
    # The keypoint class's entries read as person keypoints (datumaro's reader wants keypoints in
    # every category): one set of points per object that has keypoints, grouped with its box and mask.
    keypoint_folder = tmp_path / "keypoints" / "annotations"
    keypoint_folder.mkdir(parents=True)
    for split in ("train", "val", "test"):
        doc = json.loads((folder / "annotations" / f"instances_{split}.json").read_text())
        doc["categories"] = [c for c in doc["categories"] if c.get("keypoints")]
        ids = {c["id"] for c in doc["categories"]}
        doc["annotations"] = [a for a in doc["annotations"] if a["category_id"] in ids]
        (keypoint_folder / f"person_keypoints_{split}.json").write_text(json.dumps(doc))
    (tmp_path / "keypoints" / "images").symlink_to(folder / "images")
    keypoints = datumaro_read(datumaro_python, tmp_path / "keypoints", "coco_person_keypoints")
    assert keypoints["annotations"]["points"] == 3
    assert keypoints["per_label"] == {"face": 3}


def test_datumaro_reads_grouped_voc_as_one_object_per_group(datumaro_python, grouped, export_zip, tmp_path):
    folder = extract(export_zip(grouped, "voc"), tmp_path)
    expected = _objects_per_label(grouped, without_keypoints_only=True)
    assert expected == {"cat": 3, "dog": 3, "face": 2}
    seen = datumaro_read(datumaro_python, folder, "voc_detection")
    assert seen["items"] == 4 and seen["annotations"]["bbox"] == 8 and seen["per_label"] == expected
    masks = datumaro_read(datumaro_python, folder, "voc_instance_segmentation")
    assert masks["annotations"]["mask"] == 5  # the character, the cat, the dog mask, the cat polygon x2
