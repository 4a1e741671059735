"""Round trips: importing an export reproduces the version, as far as the format can hold it
(boxes within 0.5 px, masks identical, keypoints identical, splits identical, and for COCO the
instance groups: every object with the same parts)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate import services as annotate_services
from annotate.geometry import bounding_box, mask_to_rle, objects_of, rle_to_mask
from datasets.models import VersionImage
from export import services
from export.dataset_import import dataset_import
from tests.conftest import annotate, set_split


def _mask(y0: int, y1: int, x0: int, x1: int) -> dict:
    array = np.zeros((48, 64), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


KEYPOINTS = {"points": [[10.25, 10.5, 2], [30, 12, 1], [0, 0, 0]]}


def write_export(version, fmt: str, folder) -> str:
    path = folder / f"export-{fmt}.zip"
    with open(path, "wb") as out:
        for chunk in services.export_chunks(version=version, fmt=fmt, with_images=True):
            out.write(chunk)
    return str(path)


def frozen(version) -> dict[str, tuple[str, list[dict]]]:
    """sha256 -> (split, annotations sorted by label, kind, position) of a version."""
    out = {}
    for row in VersionImage.objects.filter(version=version):
        annotations = sorted(row.annotations, key=lambda a: (a["label"], a["kind"], bounding_box(a["kind"], a["geometry"]) or ()))
        out[row.sha256] = (row.split, annotations)
    return out


@pytest.fixture
def reimport(users, build_version, tmp_path):
    """``reimport(version, fmt)`` -> the frozen content of a version of a new project made by
    importing the export of ``version`` in ``fmt``."""

    def run(version, fmt: str) -> dict:
        target = annotate_services.project_create(name=f"Reimported {fmt}", created_by=users["owner"])
        summary = dataset_import(project=target, path=write_export(version, fmt, tmp_path), format=fmt, user=users["owner"])
        assert summary["clipped"] == 0
        return frozen(build_version(target))

    return run


def frozen_rows(version) -> dict[str, tuple[str, list[dict]]]:
    """sha256 -> (split, annotations in their frozen order) of a version."""
    return {row.sha256: (row.split, row.annotations) for row in VersionImage.objects.filter(version=version)}


@pytest.fixture
def reimport_rows(users, build_version, tmp_path):
    """``reimport_rows(version, fmt)``: as ``reimport``, the annotations in their frozen order."""

    def run(version, fmt: str) -> dict:
        target = annotate_services.project_create(name=f"Reimported rows {fmt}", created_by=users["owner"])
        summary = dataset_import(project=target, path=write_export(version, fmt, tmp_path), format=fmt, user=users["owner"])
        assert summary["clipped"] == 0
        return frozen_rows(build_version(target))

    return run


def _close_box(a: dict, b: dict, tolerance: float = 0.5) -> None:
    box_a, box_b = bounding_box(a["kind"], a["geometry"]), bounding_box(b["kind"], b["geometry"])
    assert np.allclose(box_a, box_b, atol=tolerance), (a, b)


@pytest.fixture
def detection_and_masks(project, labels, add_images, build_version):
    images = add_images(4)
    annotate(images[0], [(labels["cat"], "box", {"x": 4.5, "y": 6.25, "w": 20.5, "h": 10})])
    annotate(images[1], [(labels["dog"], "polygon", {"polygons": [[30, 5, 50, 5, 40, 30]]}),
                         (labels["cat"], "box", {"x": 1, "y": 1, "w": 10, "h": 10})])
    annotate(images[2], [(labels["cat"], "mask", _mask(10, 20, 8, 24)),
                         (labels["dog"], "mask", _mask(30, 40, 30, 60))])
    set_split(images[:2], "train")
    set_split(images[2:3], "val")
    set_split(images[3:], "test")
    return build_version(project)


@pytest.fixture
def with_keypoints(project, labels, add_images, build_version):
    images = add_images(3)
    annotate(images[0], [(labels["face"], "keypoints", KEYPOINTS)])
    annotate(images[1], [(labels["face"], "keypoints", {"points": [[1, 2, 2], [63, 47, 2], [32, 24, 2]]}),
                         (labels["face"], "keypoints", {"points": [[5, 5, 1], [0, 0, 0], [6, 9, 2]]})])
    set_split(images[:2], "train")
    set_split(images[2:], "val")
    return build_version(project)


def test_coco_round_trip_is_exact(detection_and_masks, reimport):
    original, back = frozen(detection_and_masks), reimport(detection_and_masks, "coco")
    assert back.keys() == original.keys()
    for sha, (split, objects) in original.items():
        assert back[sha][0] == split
        got = back[sha][1]
        assert [(a["label"], a["kind"]) for a in got] == [(a["label"], a["kind"]) for a in objects]
        for a, b in zip(objects, got):
            if a["kind"] == "mask":
                assert (rle_to_mask(a["geometry"]) == rle_to_mask(b["geometry"])).all()
            elif a["kind"] == "polygon":
                assert b["geometry"]["polygons"] == a["geometry"]["polygons"]
            else:
                assert b["geometry"] == pytest.approx(a["geometry"])


def test_coco_keypoints_round_trip_is_exact(with_keypoints, reimport):
    original, back = frozen(with_keypoints), reimport(with_keypoints, "coco")
    assert back.keys() == original.keys()
    for sha, (split, objects) in original.items():
        assert back[sha][0] == split
        points = lambda items: sorted(a["geometry"]["points"] for a in items if a["kind"] == "keypoints")  # noqa: E731
        assert points(back[sha][1]) == points(objects)


def _objects(parts: list[dict]) -> list[tuple]:
    """An image's objects as (label, group, {kind: geometry}) in order: what a round trip must keep."""
    return [
        (o.label, o.parts[0].get("group"), {p["kind"]: p["geometry"] for p in o.parts}) for o in objects_of(parts)
    ]


def test_coco_round_trip_is_exact_with_groups(grouped, reimport_rows):
    original, back = frozen_rows(grouped), reimport_rows(grouped, "coco")
    assert back.keys() == original.keys()
    kinds = []
    for sha, (split, image_rows) in original.items():
        assert back[sha][0] == split
        assert _objects(back[sha][1]) == _objects(image_rows)
        kinds += [tuple(sorted(o[2])) for o in _objects(image_rows)]
        # the same annotations, groups included (the parts of a group may come in another order)
        key = lambda a: (a.get("group") or 0, a["kind"], repr(a["geometry"]))  # noqa: E731
        assert sorted(map(key, back[sha][1])) == sorted(map(key, image_rows))
    assert sorted(kinds) == sorted([("box", "keypoints", "mask"), ("box", "mask"), ("box", "keypoints"), ("mask",),
                                    ("polygon",), ("keypoints",), ("box",), ("box", "polygon"), ("box",)])


def test_yolo_pose_round_trip_keeps_keypoints(with_keypoints, reimport):
    original, back = frozen(with_keypoints), reimport(with_keypoints, "yolo")
    assert back.keys() == original.keys()
    for sha, (split, objects) in original.items():
        assert back[sha][0] == split
        want = sorted(a["geometry"]["points"] for a in objects)
        got = sorted(a["geometry"]["points"] for a in back[sha][1] if a["kind"] == "keypoints")
        assert len(got) == len(want)
        for w, g in zip(want, got):
            assert [p[2] for p in g] == [p[2] for p in w]
            assert np.allclose([p[:2] for p in g], [p[:2] for p in w], atol=1e-3)


def test_yolo_pose_round_trip_gives_box_and_keypoints_groups(grouped, reimport_rows):
    original, back = frozen_rows(grouped), reimport_rows(grouped, "yolo")
    for sha, (split, image_rows) in original.items():
        assert back[sha][0] == split
        want, got = objects_of(image_rows), objects_of(back[sha][1])
        assert [o.label for o in got] == [o.label for o in want]
        for a, b in zip(want, got):
            assert b.outline is None and np.allclose(b.bbox(), a.bbox(), atol=1e-3)
            if a.keypoints is None:  # a pose line without labelled points: its box
                assert b.parts == [b.box]
                continue
            assert b.box is not None and b.box.get("group") == b.keypoints.get("group") is not None
            for (ax, ay, av), (bx, by, bv) in zip(a.keypoints["geometry"]["points"], b.keypoints["geometry"]["points"]):
                assert bv == av and abs(bx - ax) < 1e-3 and abs(by - ay) < 1e-3


def test_yolo_segmentation_round_trip(detection_and_masks, reimport):
    original, back = frozen(detection_and_masks), reimport(detection_and_masks, "yolo")
    assert back.keys() == original.keys()
    for sha, (split, objects) in original.items():
        assert back[sha][0] == split
        got = back[sha][1]
        assert sorted(a["label"] for a in got) == sorted(a["label"] for a in objects)
        for a in objects:
            b = next(x for x in got if x["label"] == a["label"] and np.allclose(
                bounding_box(x["kind"], x["geometry"]), bounding_box(a["kind"], a["geometry"]), atol=1.0))
            if a["kind"] == "polygon":  # polygons come back as the same polygon
                assert np.allclose(b["geometry"]["polygons"][0], a["geometry"]["polygons"][0], atol=1e-3)
            elif a["kind"] == "box":  # boxes come back as their outline
                _close_box(a, b)
            else:  # a mask becomes its outline polygon: the same pixels once filled
                filled = mask_utils.decode(mask_utils.frPyObjects(b["geometry"]["polygons"], 48, 64)).max(axis=2)
                original_mask = rle_to_mask(a["geometry"])
                assert np.logical_xor(filled, original_mask).sum() <= original_mask.sum() * 0.25


def _mask_pixels(part: dict) -> np.ndarray:
    if part["kind"] == "mask":
        return rle_to_mask(part["geometry"])
    rles = mask_utils.frPyObjects(part["geometry"]["polygons"], 48, 64)
    return mask_utils.decode(mask_utils.merge(rles))


def test_voc_round_trip_boxes_and_masks(detection_and_masks, reimport_rows):
    """Every object comes back: a box as its box, a mask or polygon as its box and its mask (one group)."""
    original, back = frozen_rows(detection_and_masks), reimport_rows(detection_and_masks, "voc")
    assert back.keys() == original.keys()
    for sha, (split, image_rows) in original.items():
        assert back[sha][0] == split
        want, got = objects_of(image_rows), objects_of(back[sha][1])
        assert [o.label for o in got] == [o.label for o in want]
        for a, b in zip(want, got):
            assert np.allclose(b.bbox(), a.bbox(), atol=0.5), (a, b)
            assert b.box is not None and b.keypoints is None
            if a.outline is None:
                assert b.outline is None
            else:  # masks identical; polygons come back as their rasterized mask
                assert b.outline["kind"] == "mask"
                assert (_mask_pixels(a.outline) == rle_to_mask(b.outline["geometry"])).all()
        grouped = [o for o in got if len(o.parts) > 1]
        assert [o.parts[0]["group"] for o in grouped] == list(range(1, len(grouped) + 1))  # canonical
        assert all(p.get("group") == o.parts[0].get("group") for o in got for p in o.parts)


def test_imagefolder_round_trip_keeps_classes_and_splits(project, labels, add_images, build_version, reimport):
    images = add_images(4)
    for image, label in zip(images, ["cat", "dog", "cat", "dog"]):
        annotate(image, [(labels[label], "tag", {})])
    set_split(images[:2], "train")
    set_split(images[2:], "val")
    version = build_version(project)
    original, back = frozen(version), reimport(version, "imagefolder")
    assert back.keys() == original.keys()
    for sha, (split, objects) in original.items():
        assert back[sha][0] == split
        assert [(a["label"], a["kind"]) for a in back[sha][1]] == [(a["label"], "tag") for a in objects]
