"""import(export(v)) reproduces v, format by format, as far as each format can hold it.

A version is exported through the real writers, the archive imported into a fresh project through
the real import, and the two compared image by image (matched by content): splits identical,
boxes within half a pixel, masks identical pixel for pixel, keypoints identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate import services as annotate_services
from annotate.geometry import bounding_box, mask_to_rle, objects_of, rle_to_mask
from annotate.models import Annotation, Image, LabelClass
from datasets.models import VersionImage
from export import services
from export.dataset_import import dataset_import
from tests.conftest import annotate, set_split

pytestmark = pytest.mark.django_db

FACE = {"points": [[10.5, 10.25, 2], [30, 12, 2], [20, 25, 1]]}


def _mask(y0: int, y1: int, x0: int, x1: int) -> dict:
    array = np.zeros((48, 64), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


def _roundtrip(version, fmt: str, tmp_path, owner) -> tuple[dict, dict, dict]:
    """(version objects by file name, imported objects by file name, import summary).

    By name, not content: byte-identical images are separate images with their own objects.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{fmt}.zip"
    with open(path, "wb") as fh:
        for chunk in services.export_chunks(version=version, fmt=fmt, with_images=True):
            fh.write(chunk)
    target = annotate_services.project_create(name=f"from {fmt}", created_by=owner)
    summary = dataset_import(project=target, path=path, format=fmt)
    original = {
        row.file_name: (row.split, row.annotations) for row in VersionImage.objects.filter(version=version).order_by("index")
    }
    imported = {}
    for image in Image.objects.filter(project=target).prefetch_related("annotations__label"):
        objects = [
            {"label": a.label.name, "kind": a.kind, "geometry": a.geometry, "attributes": a.attributes,
             **({"group": a.group} if a.group is not None else {})}
            for a in image.annotations.order_by("id")
        ]
        imported[image.original_name] = (image.split, objects)
    return original, imported, summary


def _of(objects: list[dict], *kinds: str) -> list[dict]:
    return [o for o in objects if o["kind"] in kinds]


def _alone(objects: list[dict], *kinds: str) -> list[dict]:
    """The annotations of these kinds that are objects by themselves (in no group)."""
    return [o for o in objects if o["kind"] in kinds and o.get("group") is None]


def _box_key(o: dict) -> tuple:
    g = o["geometry"]
    return (o["label"], round(g["x"]), round(g["y"]), round(g["w"]), round(g["h"]))


def _corners(o: dict) -> tuple[float, float, float, float]:
    g = o["geometry"]
    return g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]


def _assert_boxes_close(expected: list[dict], got: list[dict]) -> None:
    assert len(expected) == len(got)
    for e, g in zip(sorted(expected, key=_box_key), sorted(got, key=_box_key)):
        assert e["label"] == g["label"]
        for a, b in zip(_corners(e), _corners(g)):  # every edge of the box within half a pixel
            assert abs(a - b) <= 0.5 + 1e-9, (e, g)


@pytest.fixture
def detection_version(project, labels, add_images, build_version):
    images = add_images(5, seed=40)
    annotate(images[0], [(labels["cat"], "box", {"x": 4.5, "y": 6.25, "w": 20, "h": 10}),
                         (labels["dog"], "box", {"x": 0, "y": 0, "w": 64, "h": 48})])
    annotate(images[1], [(labels["dog"], "box", {"x": 10.4, "y": 3.6, "w": 12.2, "h": 30.1})])
    annotate(images[2], [(labels["cat"], "box", {"x": 1, "y": 2, "w": 3, "h": 4})])
    set_split(images[:2], "train")
    set_split(images[2:4], "val")
    set_split(images[4:], "test")  # a background image, no objects
    return build_version(project)


@pytest.fixture
def rich_version(project, labels, add_images, build_version):
    images = add_images(4, seed=50)
    annotate(images[0], [(labels["cat"], "box", {"x": 4.5, "y": 6.25, "w": 20, "h": 10}),
                         (labels["dog"], "polygon", {"polygons": [[30, 5, 50, 5, 40, 20], [30, 30, 45, 30, 40, 45]]}),
                         (labels["face"], "keypoints", FACE)])
    annotate(images[1], [(labels["cat"], "mask", _mask(10, 20, 8, 24)),
                         (labels["dog"], "mask", _mask(30, 40, 30, 60), {"iscrowd": 1})])
    annotate(images[2], [(labels["face"], "keypoints", {"points": [[5, 5, 2], [0, 0, 0], [60, 40, 2]]})])
    set_split(images[:2], "train")
    set_split(images[2:], "val")
    return build_version(project)


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_detection_boxes_and_splits_survive(detection_version, fmt, tmp_path, users):
    original, imported, summary = _roundtrip(detection_version, fmt, tmp_path, users["owner"])
    assert summary["images_created"] == 5
    assert set(imported) == set(original)
    for sha, (split, objects) in original.items():
        assert imported[sha][0] == split
        _assert_boxes_close(_of(objects, "box"), _of(imported[sha][1], "box"))
    if fmt == "coco":  # COCO keeps the exact floats
        for sha, (_, objects) in original.items():
            assert sorted(map(_box_key, objects)) == sorted(map(_box_key, imported[sha][1]))
            assert sorted(o["geometry"]["x"] for o in objects) == sorted(o["geometry"]["x"] for o in imported[sha][1])


def test_coco_keeps_polygons_masks_crowd_and_keypoints_identical(rich_version, tmp_path, users):
    original, imported, _ = _roundtrip(rich_version, "coco", tmp_path, users["owner"])
    assert {sha: split for sha, (split, _) in original.items()} == {sha: split for sha, (split, _) in imported.items()}
    for sha, (_, objects) in original.items():
        got = imported[sha][1]
        for kind in ("box", "polygon", "mask", "keypoints"):
            expected = sorted((o["label"], repr(o["geometry"])) for o in _of(objects, kind))
            assert sorted((o["label"], repr(o["geometry"])) for o in _of(got, kind)) == expected, kind
        crowd = [o for o in _of(got, "mask") if o["attributes"].get("iscrowd")]
        assert len(crowd) == len([o for o in _of(objects, "mask") if (o.get("attributes") or {}).get("iscrowd")])
    face = LabelClass.objects.get(project__name="from coco", name="face")
    assert face.keypoint_names == ["left_eye", "right_eye", "nose"] and face.skeleton == [[0, 1], [1, 2]]


def test_voc_keeps_masks_identical_and_polygons_as_their_pixels(rich_version, tmp_path, users):
    original, imported, _ = _roundtrip(rich_version, "voc", tmp_path, users["owner"])
    for sha, (split, objects) in original.items():
        assert imported[sha][0] == split
        got = imported[sha][1]
        _assert_boxes_close(_of(objects, "box"), _alone(got, "box"))
        # a mask or polygon comes back as a box and a mask, one group
        assert all(o.box is not None and o.outline is not None for o in objects_of(got) if o.outline is not None)
        expected_masks = {}
        for o in _of(objects, "mask", "polygon"):
            if o["kind"] == "mask":
                pixels = rle_to_mask(o["geometry"])
            else:
                rles = mask_utils.frPyObjects(o["geometry"]["polygons"], 48, 64)
                pixels = mask_utils.decode(mask_utils.merge(rles))
            expected_masks.setdefault(o["label"], []).append(pixels)
        for o in _of(got, "mask"):
            assert any(np.array_equal(rle_to_mask(o["geometry"]), m) for m in expected_masks[o["label"]])
        assert len(_of(got, "mask")) == sum(len(v) for v in expected_masks.values())
        assert not _of(got, "keypoints")  # VOC has no keypoints


def test_yolo_pose_keeps_keypoints_and_their_names(rich_version, tmp_path, users):
    original, imported, _ = _roundtrip(rich_version, "yolo", tmp_path, users["owner"])
    face = LabelClass.objects.get(project__name="from yolo", name="face")
    assert face.keypoint_names == ["left_eye", "right_eye", "nose"]
    assert not LabelClass.objects.get(project__name="from yolo", name="cat").keypoint_names
    for sha, (split, objects) in original.items():
        assert imported[sha][0] == split
        expected = _of(objects, "keypoints")
        got = _of(imported[sha][1], "keypoints")
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            for (ex, ey, ev), (gx, gy, gv) in zip(e["geometry"]["points"], g["geometry"]["points"]):
                assert gv == ev and abs(gx - ex) < 1e-3 and abs(gy - ey) < 1e-3
        # Objects of classes without keypoints come back as their boxes (pose lines hold boxes).
        boxes = [
            {"label": o["label"], "geometry": dict(zip("xywh", bounding_box(o["kind"], o["geometry"])))}
            for o in _of(objects, "box", "polygon", "mask")
        ]
        _assert_boxes_close(boxes, _alone(imported[sha][1], "box"))
        # each keypoints object comes back with its box, one group
        assert all(o.box is not None for o in objects_of(imported[sha][1]) if o.keypoints is not None)


def test_yolo_segmentation_keeps_single_part_polygons(project, labels, add_images, build_version, tmp_path, users):
    images = add_images(2, seed=60)
    annotate(images[0], [(labels["cat"], "polygon", {"polygons": [[0, 0, 64, 0, 32, 48]]})])
    annotate(images[1], [(labels["dog"], "polygon", {"polygons": [[10.25, 5.5, 40, 5.5, 40, 30, 10.25, 30]]})])
    set_split(images, "train")
    original, imported, _ = _roundtrip(build_version(project), "yolo", tmp_path, users["owner"])
    for sha, (_, objects) in original.items():
        [expected] = objects
        [got] = imported[sha][1]
        assert got["kind"] == "polygon" and got["label"] == expected["label"]
        assert got["geometry"]["polygons"][0] == pytest.approx(expected["geometry"]["polygons"][0], abs=1e-3)


def test_imagefolder_keeps_classes_and_splits(project, labels, add_images, build_version, tmp_path, users):
    images = add_images(4, seed=70)
    for image, label in zip(images, ["cat", "dog", "cat", "dog"]):
        annotate(image, [(labels[label], "tag", {})])
    set_split(images[:2], "train")
    set_split(images[2:], "test")
    original, imported, _ = _roundtrip(build_version(project), "imagefolder", tmp_path, users["owner"])
    assert {sha: (split, [o["label"] for o in objects]) for sha, (split, objects) in original.items()} == {
        sha: (split, [o["label"] for o in objects]) for sha, (split, objects) in imported.items()
    }
    assert Annotation.objects.filter(image__project__name="from imagefolder", kind="tag").count() == 4


# --- real data ------------------------------------------------------------------------------
def _export_and_reimport(version, fmt: str, tmp_path, owner) -> tuple[dict, dict]:
    original, imported, summary = _roundtrip(version, fmt, tmp_path, owner)
    assert summary["images_created"] == len(original)
    return original, imported


@pytest.mark.realdata
@pytest.mark.slow
def test_raccoon_voc_exports_to_coco_and_yolo_with_the_same_boxes(project, build_version, tmp_path, users):
    from tests.conftest import REAL_DATA

    imported = dataset_import(project=project, path=REAL_DATA / "raccoon-voc", format="voc")
    assert imported["annotations_created"] == 217 and imported["image_files"] == 200
    version = build_version(project)
    assert imported["images_created"] == 200 and imported["duplicate_files"] == 4
    assert version.annotation_count == 217 and version.image_count == 200
    for fmt in ("coco", "yolo", "voc"):
        original, again = _export_and_reimport(version, fmt, tmp_path, users["owner"])
        assert sum(len(objects) for _, objects in again.values()) == 217, fmt
        for sha, (split, objects) in original.items():
            assert again[sha][0] == split
            _assert_boxes_close(objects, again[sha][1])


@pytest.mark.realdata
@pytest.mark.slow
def test_coco128_survives_coco_to_yolo_seg_to_import_to_coco(project, build_version, tmp_path, users):
    from tests.conftest import REAL_DATA

    dataset_import(project=project, path=REAL_DATA / "coco128-instances", format="coco")
    version = build_version(project)
    original, from_yolo = _export_and_reimport(version, "yolo", tmp_path, users["owner"])
    # YOLO-seg holds one outline per object: every object (COCO's box + outline, one group) comes
    # back, of the same class, as a polygon.
    for sha, (split, objects) in original.items():
        assert from_yolo[sha][0] == split
        got = from_yolo[sha][1]
        assert sorted(o.label for o in objects_of(objects)) == sorted(o["label"] for o in got)
        assert {o["kind"] for o in got} <= {"polygon"}
    assert sum(len(o) for _, o in from_yolo.values()) == 939
    # ... and that project exports to COCO again with the same objects per class.
    copy = Image.objects.filter(project__name="from yolo").first().project
    version2 = build_version(copy)
    again, from_coco = _export_and_reimport(version2, "coco", tmp_path / "second", users["owner"])
    assert sorted(o["label"] for _, objects in from_coco.values() for o in objects) == sorted(
        o.label for _, objects in original.values() for o in objects_of(objects)
    )
    for sha, (_, objects) in again.items():
        assert sorted(repr(o["geometry"]) for o in objects) == sorted(repr(o["geometry"]) for o in from_coco[sha][1])


@pytest.mark.realdata
@pytest.mark.slow
def test_deeplabcut_mouse_keypoints_survive_coco_and_yolo(project, build_version, tmp_path, users):
    from tests.conftest import REAL_DATA

    dataset_import(project=project, path=REAL_DATA / "dlc-openfield-keypoints", format="coco")
    version = build_version(project)
    original, from_coco = _export_and_reimport(version, "coco", tmp_path, users["owner"])
    for sha, (split, objects) in original.items():
        assert from_coco[sha][0] == split
        assert [o["geometry"] for o in from_coco[sha][1]] == [o["geometry"] for o in objects]
    original, from_yolo = _export_and_reimport(version, "yolo", tmp_path / "y", users["owner"])
    label = LabelClass.objects.get(project__name="from yolo")
    assert label.keypoint_names == ["snout", "leftear", "rightear", "tailbase"]
    for sha, (_, objects) in original.items():
        [e], [g] = _of(objects, "keypoints"), _of(from_yolo[sha][1], "keypoints")  # each with its box
        for (ex, ey, ev), (gx, gy, gv) in zip(e["geometry"]["points"], g["geometry"]["points"]):
            assert gv == ev and abs(gx - ex) < 1e-3 and abs(gy - ey) < 1e-3
