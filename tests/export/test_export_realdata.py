"""Exports of real, human-annotated datasets (../shared/datasets), read back by independent readers
and by our importer: raccoon (VOC boxes), coco128 (polygons, crowd RLE, non-contiguous ids), the
DeepLabCut mouse (COCO keypoints)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import yaml
from pycocotools.coco import COCO

from annotate import services as annotate_services
from annotate.geometry import objects_of
from annotate.models import Image
from datasets.models import VersionImage
from export import services
from export.dataset_import import dataset_import
from tests.conftest import REAL_DATA
from tests.export.test_datumaro import datumaro_python, datumaro_read  # noqa: F401 (fixture)

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def write_export(version, fmt: str, folder, images: bool = True) -> str:
    path = folder / f"{fmt}-{version.pk}.zip"
    with open(path, "wb") as out:
        for chunk in services.export_chunks(version=version, fmt=fmt, with_images=images):
            out.write(chunk)
    return str(path)


def _new_project(users, name: str):
    return annotate_services.project_create(name=name, created_by=users["owner"])


@pytest.fixture
def raccoon(users, build_version):
    project = _new_project(users, "Raccoons")
    dataset_import(project=project, path=REAL_DATA / "raccoon-voc", format="voc")
    return build_version(project, split={"mode": "ratios", "train": 0.8, "val": 0.2, "test": 0.0, "seed": 0})


def test_raccoon_exports_to_coco_and_yolo_with_the_same_counts(raccoon, export_zip, tmp_path):
    images = Image.objects.filter(project=raccoon.project).count()
    assert images == 200  # 4 pairs of byte-identical files stay separate images
    assert raccoon.image_count == images and raccoon.annotation_count == 217
    archive = export_zip(raccoon, "coco", images=False)
    coco_images = coco_boxes = 0
    for split in ("train", "val"):
        path = tmp_path / f"{split}.json"
        path.write_bytes(archive.read(f"annotations/instances_{split}.json"))
        gt = COCO(str(path))
        coco_images += len(gt.getImgIds())
        coco_boxes += len(gt.getAnnIds())
        assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == ["raccoon"]
    assert (coco_images, coco_boxes) == (images, 217)

    archive = export_zip(raccoon, "yolo", images=False)
    labels = [n for n in archive.namelist() if n.startswith("labels/")]
    lines = [line for n in labels for line in archive.read(n).decode().splitlines() if line]
    assert (len(labels), len(lines)) == (images, 217)
    assert yaml.safe_load(archive.read("data.yaml"))["names"] == {0: "raccoon"}


def test_raccoon_voc_round_trip_within_half_a_pixel(raccoon, users, build_version, tmp_path):
    target = _new_project(users, "Raccoons again")
    result = dataset_import(project=target, path=write_export(raccoon, "voc", tmp_path), format="voc")
    assert (result["images_created"], result["annotations_created"], result["duplicate_files"]) == (200, 217, 4)
    again = build_version(target)
    boxes = lambda v: {  # noqa: E731 (by name: the byte-identical copies share a sha256)
        (row.file_name, row.split): sorted((a["geometry"]["x"], a["geometry"]["y"], a["geometry"]["w"], a["geometry"]["h"])
                                        for a in row.annotations)
        for row in VersionImage.objects.filter(version=v)
    }
    before, after = boxes(raccoon), boxes(again)
    assert len(before) == 200 and before.keys() == after.keys()
    for key, want in before.items():
        assert np.allclose(after[key], want, atol=0.5)


def test_datumaro_counts_the_raccoon_exports(datumaro_python, raccoon, export_zip, tmp_path):  # noqa: F811
    expected_subsets = {s: n for s, n in raccoon.counts["images"].items() if n}
    for fmt, reader in (("coco", "coco_instances"), ("voc", "voc_detection"), ("yolo", "yolo")):
        folder = tmp_path / fmt
        export_zip(raccoon, fmt).extractall(folder)
        seen = datumaro_read(datumaro_python, folder, reader)
        assert seen["items"] == raccoon.image_count, fmt
        assert seen["subsets"] == expected_subsets, fmt
        assert seen["per_label"] == {"raccoon": 217}, fmt


def test_coco128_survives_coco_to_yolo_seg_to_import_to_coco(users, build_version, export_zip, tmp_path):
    source = json.loads((REAL_DATA / "coco128-instances" / "annotations" / "instances_train2017.json").read_text())
    names = {c["id"]: c["name"] for c in source["categories"]}
    expected = Counter(names[a["category_id"]] for a in source["annotations"])

    first = _new_project(users, "coco128")
    dataset_import(project=first, path=REAL_DATA / "coco128-instances", format="coco")
    version = build_version(first)
    assert version.image_count == 128 and version.annotation_count == 2 * 939  # box + outline per object
    assert sum(sum(c.values()) for c in version.counts["objects"].values()) == 939

    second = _new_project(users, "coco128 via yolo")
    summary = dataset_import(project=second, path=write_export(version, "yolo", tmp_path), format="yolo")
    assert summary["annotations_by_kind"] == {"polygon": 939}  # every object, masks as outlines
    again = build_version(second)
    assert again.image_count == 128

    archive = export_zip(again, "coco", images=False)
    path = tmp_path / "again.json"
    path.write_bytes(archive.read("annotations/instances_train.json"))
    gt = COCO(str(path))
    categories = gt.loadCats(gt.getCatIds())
    assert [c["id"] for c in categories] == list(range(1, len(categories) + 1))  # contiguous from 1
    by_name = Counter(gt.loadCats(a["category_id"])[0]["name"] for a in gt.loadAnns(gt.getAnnIds()))
    assert by_name == expected
    # Each image keeps its objects.
    first_boxes = {r.sha256: len(objects_of(r.annotations)) for r in VersionImage.objects.filter(version=version)}
    again_boxes = {r.sha256: len(objects_of(r.annotations)) for r in VersionImage.objects.filter(version=again)}
    assert first_boxes == again_boxes


def test_deeplabcut_keypoints_survive_coco_round_trips(users, build_version, tmp_path):
    first = _new_project(users, "mouse")
    dataset_import(project=first, path=REAL_DATA / "dlc-openfield-keypoints", format="coco")
    version = build_version(first)
    assert version.image_count == 116

    def keypoints(v) -> dict:
        return {
            row.sha256: sorted(a["geometry"]["points"] for a in row.annotations if a["kind"] == "keypoints")
            for row in VersionImage.objects.filter(version=v)
        }

    current, want = version, keypoints(version)
    assert sum(len(v) for v in want.values()) == 116
    for round_trip in range(2):
        target = _new_project(users, f"mouse again {round_trip}")
        dataset_import(project=target, path=write_export(current, "coco", tmp_path), format="coco")
        current = build_version(target)
        assert keypoints(current) == want
        assert current.labels[0]["keypoint_names"] == version.labels[0]["keypoint_names"]
        assert current.labels[0]["skeleton"] == version.labels[0]["skeleton"]


def test_mmpose_persons_export_to_coco_as_they_were(users, build_version, export_zip):
    """Each person (box, segmentation and keypoints, one instance group on import) is one COCO entry
    again, with the file's own bbox, segmentation and keypoints."""
    folder = REAL_DATA / "mmpose-coco-keypoints" / "person"
    source = json.loads((folder / "annotations.json").read_text())
    project = _new_project(users, "people")
    dataset_import(project=project, path=folder, format="coco")
    version = build_version(project, split={"mode": "ratios", "train": 1.0, "val": 0.0, "test": 0.0, "seed": 0})
    assert sum(sum(c.values()) for c in version.counts["objects"].values()) == len(source["annotations"]) == 14
    exported = json.loads(export_zip(version, "coco", images=False).read("annotations/instances_train.json"))
    files = {i["id"]: i["file_name"] for i in exported["images"]}
    source_files = {i["id"]: i["file_name"] for i in source["images"]}

    def key(ann, names):
        return names[ann["image_id"]], tuple(ann["bbox"])

    got = {key(a, files): a for a in exported["annotations"]}
    assert len(got) == 14
    for ann in source["annotations"]:
        entry = got[key(ann, source_files)]
        assert entry["segmentation"] == ann["segmentation"]
        assert "lensforge_bbox_derived" not in entry
        if any(ann["keypoints"][2::3]):
            expected = [v for x, y, s in zip(*[iter(ann["keypoints"])] * 3) for v in ((x, y, s) if s else (0, 0, 0))]
            assert entry["keypoints"] == expected and entry["num_keypoints"] == ann["num_keypoints"]
        else:  # no labelled point: the person is its box and its outline
            assert "keypoints" not in entry
