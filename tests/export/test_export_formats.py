"""Each export format, read back by an independent reader where one exists (pycocotools,
ElementTree, PyYAML, TensorFlow) and checked value by value."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from PIL import Image as PILImage
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotate.geometry import mask_to_rle
from export import services
from export.dataset_formats import yolo
from tests.conftest import annotate, image_bytes, set_split


def _mask(y0: int, y1: int, x0: int, x1: int, height: int = 48, width: int = 64) -> dict:
    array = np.zeros((height, width), dtype=np.uint8)
    array[y0:y1, x0:x1] = 1
    return mask_to_rle(array)


FACE = {"points": [[10, 10, 2], [30, 12, 2], [20, 25, 1]]}


@pytest.fixture
def rich(project, labels, add_images, build_version):
    """Six 64x48 images over three splits with every kind of annotation; returns the version."""
    images = add_images(6)
    annotate(images[0], [(labels["cat"], "box", {"x": 4.5, "y": 6.25, "w": 20, "h": 10}),
                         (labels["dog"], "polygon", {"polygons": [[30, 5, 50, 5, 40, 20], [30, 30, 45, 30, 40, 45]]}),
                         (labels["face"], "keypoints", FACE)])
    annotate(images[1], [(labels["cat"], "mask", _mask(10, 20, 8, 24)),
                         (labels["dog"], "mask", _mask(30, 40, 30, 60), {"iscrowd": 1})])
    annotate(images[2], [(labels["dog"], "box", {"x": 0, "y": 0, "w": 64, "h": 48}),
                         (labels["cat"], "polygon", {"polygons": [[1, 1, 20, 1, 20, 20, 1, 20]]})])
    annotate(images[3], [(labels["cat"], "tag", {})])
    annotate(images[4], [(labels["face"], "keypoints", {"points": [[5, 5, 2], [0, 0, 0], [60, 40, 2]]}),
                         (labels["cat"], "box", {"x": 10, "y": 10, "w": 30, "h": 30}, {"difficult": True})])
    set_split(images[:2], "train")
    set_split(images[2:4], "val")
    set_split(images[4:], "test")
    return build_version(project)


def _load_coco(archive, split: str, tmp_path) -> COCO:
    path = tmp_path / f"{split}.json"
    path.write_bytes(archive.read(f"annotations/instances_{split}.json"))
    return COCO(str(path))


# --- COCO -----------------------------------------------------------------------------------
def test_coco_layout_categories_and_values(rich, export_zip, tmp_path):
    archive = export_zip(rich, "coco")
    names = set(archive.namelist())
    assert {"annotations/instances_train.json", "annotations/instances_val.json",
            "annotations/instances_test.json", "lensforge_version.json"} <= names
    assert sum(1 for n in names if n.startswith("images/")) == 6
    train = json.loads(archive.read("annotations/instances_train.json"))
    assert [(c["id"], c["name"]) for c in train["categories"]] == [(1, "cat"), (2, "dog"), (3, "face")]
    face = train["categories"][2]
    assert face["keypoints"] == ["left_eye", "right_eye", "nose"]
    assert face["skeleton"] == [[1, 2], [2, 3]]  # 1-based
    assert "keypoints" not in train["categories"][0]
    for image in train["images"]:
        assert f"images/train/{image['file_name']}" in names
    by_kind = {}
    for ann in train["annotations"]:
        by_kind.setdefault(ann["category_id"], []).append(ann)
    box = next(a for a in by_kind[1] if not a["segmentation"])
    assert box["bbox"] == [4.5, 6.25, 20.0, 10.0] and box["area"] == 200.0
    polygon = by_kind[2][0]
    assert polygon["segmentation"] == [[30.0, 5.0, 50.0, 5.0, 40.0, 20.0], [30.0, 30.0, 45.0, 30.0, 40.0, 45.0]]
    assert polygon["bbox"] == [30.0, 5.0, 20.0, 40.0]
    crowd = next(a for a in by_kind[2] if isinstance(a["segmentation"], dict))
    assert crowd["iscrowd"] == 1 and crowd["area"] == 300.0 and crowd["bbox"] == [30.0, 30.0, 30.0, 10.0]
    keypoints = by_kind[3][0]
    assert keypoints["keypoints"] == [10.0, 10.0, 2, 30.0, 12.0, 2, 20.0, 25.0, 1]
    assert keypoints["num_keypoints"] == 3 and keypoints["bbox"] == [10.0, 10.0, 20.0, 15.0]
    # The tag on the val image has no COCO form; its image is still listed.
    val = json.loads(archive.read("annotations/instances_val.json"))
    assert len(val["images"]) == 2 and len(val["annotations"]) == 2


def _with_segmentation(gt: COCO) -> COCO:
    """The same dataset restricted to objects that have a segmentation (polygons and masks)."""
    subset = COCO()
    subset.dataset = {**gt.dataset, "annotations": [a for a in gt.dataset["annotations"] if a["segmentation"]]}
    subset.createIndex()
    return subset


def _ap(gt: COCO, iou_type: str, cat_ids: list[int], sigmas=None) -> float:
    detections = []
    for ann in gt.loadAnns(gt.getAnnIds(catIds=cat_ids)):
        det = {"image_id": ann["image_id"], "category_id": ann["category_id"], "score": 1.0}
        if iou_type == "bbox":
            det["bbox"] = ann["bbox"]
        elif iou_type == "segm":
            det["segmentation"] = gt.annToRLE(ann)  # results carry masks as RLE
        else:
            det["keypoints"], det["bbox"] = ann["keypoints"], ann["bbox"]
        detections.append(det)
    evaluator = COCOeval(gt, gt.loadRes(detections), iou_type)
    evaluator.params.catIds = cat_ids
    if sigmas is not None:
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[0])


def test_coco_ground_truth_against_itself_gives_ap_1(rich, export_zip, tmp_path):
    archive = export_zip(rich, "coco", images=False)
    train, val, test = (_load_coco(archive, split, tmp_path) for split in ("train", "val", "test"))
    for gt in (train, val, test):
        assert _ap(gt, "bbox", [1, 2]) == pytest.approx(1.0)
    # segm over the classes that have polygons / masks in each split (crowd masks are ignored by
    # COCOeval, the non-crowd ones must match perfectly)
    assert _ap(_with_segmentation(train), "segm", [1, 2]) == pytest.approx(1.0)
    assert _ap(_with_segmentation(val), "segm", [1]) == pytest.approx(1.0)
    assert _ap(train, "keypoints", [3], sigmas=[0.05] * 3) == pytest.approx(1.0)
    assert _ap(test, "keypoints", [3], sigmas=[0.05] * 3) == pytest.approx(1.0)


# --- YOLO -----------------------------------------------------------------------------------
def _lines(archive, name: str) -> list[list[float]]:
    text = archive.read(name).decode()
    return [[float(v) for v in line.split()] for line in text.splitlines() if line.strip()]


def test_yolo_pose_layout_data_yaml_and_lines(rich, export_zip):
    archive = export_zip(rich, "yolo")
    data = yaml.safe_load(archive.read("data.yaml"))
    assert data["names"] == {0: "cat", 1: "dog", 2: "face"}
    assert data["train"] == "images/train" and data["val"] == "images/val" and data["test"] == "images/test"
    assert data["kpt_shape"] == [3, 3]
    assert data["flip_idx"] == [1, 0, 2]
    names = archive.namelist()
    assert sum(1 for n in names if n.startswith("labels/")) == 6
    assert sum(1 for n in names if n.startswith("images/")) == 6
    test_rows = sorted(n for n in names if n.startswith("labels/test/"))
    lines = [line for n in test_rows for line in _lines(archive, n)]
    pose = next(line for line in lines if line[0] == 2)
    # box of the visible points (5,5)-(60,40) on 64x48, then the points normalized
    assert pose[1:5] == pytest.approx([32.5 / 64, 22.5 / 48, 55 / 64, 35 / 48], abs=1e-6)
    assert pose[5:] == pytest.approx([5 / 64, 5 / 48, 2, 0, 0, 0, 60 / 64, 40 / 48, 2], abs=1e-6)
    cat = next(line for line in lines if line[0] == 0)
    assert cat[1:5] == pytest.approx([25 / 64, 25 / 48, 30 / 64, 30 / 48], abs=1e-6)
    assert cat[5:] == [0] * 9  # a box of a class without keypoints: points unlabelled


def test_yolo_segmentation_polygons_are_normalized(project, labels, add_images, build_version, export_zip):
    images = add_images(2)
    annotate(images[0], [(labels["cat"], "polygon", {"polygons": [[0, 0, 64, 0, 32, 48]]}),
                         (labels["dog"], "box", {"x": 16, "y": 12, "w": 32, "h": 24})])
    annotate(images[1], [(labels["dog"], "mask", _mask(12, 36, 16, 48))])
    set_split(images, "train")
    archive = export_zip(build_version(project), "yolo")
    data = yaml.safe_load(archive.read("data.yaml"))
    assert "kpt_shape" not in data and data["train"] == "images/train" and "val" not in data
    label_files = sorted(n for n in archive.namelist() if n.startswith("labels/train/"))
    first, second = (_lines(archive, n) for n in label_files)
    assert first[0] == pytest.approx([0, 0, 0, 1, 0, 0.5, 1])
    assert first[1] == pytest.approx([1, 0.25, 0.25, 0.75, 0.25, 0.75, 0.75, 0.25, 0.75])
    mask_line = second[0]
    assert mask_line[0] == 1
    xs, ys = np.array(mask_line[1::2]) * 64, np.array(mask_line[2::2]) * 48
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((16, 47, 12, 35))


def test_yolo_detection_lines(project, labels, add_images, build_version, export_zip):
    (image,) = add_images(1)
    annotate(image, [(labels["dog"], "box", {"x": 16, "y": 12, "w": 32, "h": 24})])
    set_split([image], "val")
    archive = export_zip(build_version(project), "yolo", images=False)
    assert not any(n.startswith("images/") for n in archive.namelist())
    (name,) = [n for n in archive.namelist() if n.startswith("labels/val/")]
    assert _lines(archive, name) == [[1, 0.5, 0.5, 0.5, 0.5]]


def test_yolo_multi_part_polygon_becomes_one_outline():
    parts = [np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float), np.array([[5, 0], [7, 0], [7, 2]], float)]
    joined = yolo.join_parts(parts)
    assert len(joined) == 4 + 3 + 2  # both parts, the bridge's two ends repeated
    for part in parts:
        for point in part:
            assert any((point == p).all() for p in joined)


def test_flip_index_pairs_left_and_right_names():
    assert yolo.flip_index(["nose", "left_eye", "right_eye", "leftear", "rightear", "tail"]) == [0, 2, 1, 4, 3, 5]
    assert yolo.flip_index(["Left_Hand", "Right_Hand"]) == [1, 0]


def test_yolo_flip_idx_follows_the_augment_recipes_flip_pairs(project, labels, add_images, build_version, export_zip):
    from augment.models import Recipe

    images = add_images(2)
    for image in images:
        annotate(image, [(labels["face"], "keypoints", FACE)])
    set_split(images, "train")
    # The recipe mirrors the face's right eye with its nose (and so does augmentation), not the eyes.
    spec = {"transforms": [{"name": "HorizontalFlip", "p": 1}], "flip_pairs": {"face": [["right_eye", "nose"]]}}
    recipe = Recipe.objects.create(project=project, name="odd pairs", spec=spec)
    version = build_version(project, augment={"recipe": recipe.pk, "copies": 1, "seed": 0})
    assert version.params["augment"] == {"recipe": recipe.pk, "copies": 1, "seed": 0, "flip_pairs": spec["flip_pairs"]}
    assert yaml.safe_load(export_zip(version, "yolo", images=False).read("data.yaml"))["flip_idx"] == [0, 2, 1]
    copy = next(row for row in version.images.all() if row.source == "augmented")
    original = next(row for row in version.images.all() if row.source != "augmented")
    flipped = copy.annotations[0]["geometry"]["points"]
    points = original.annotations[0]["geometry"]["points"]
    assert [round(p[0] + q[0], 6) for p, q in zip(flipped, [points[i] for i in (0, 2, 1)])] == [64.0] * 3

    # Without flip_pairs the names decide, as before; an empty list for the label means no swap.
    recipe.spec = {"transforms": [{"name": "HorizontalFlip", "p": 1}], "flip_pairs": {"face": []}}
    recipe.save()
    version = build_version(project, augment={"recipe": recipe.pk, "copies": 1, "seed": 0})
    assert yaml.safe_load(export_zip(version, "yolo", images=False).read("data.yaml"))["flip_idx"] == [0, 1, 2]
    assert yaml.safe_load(export_zip(build_version(project), "yolo", images=False).read("data.yaml"))["flip_idx"] == [1, 0, 2]


def test_yolo_pose_with_different_keypoint_counts_is_refused(api, users, project, labels, add_images, build_version):
    from annotate import services as annotate_services

    hand = annotate_services.label_create(project=project, name="hand", keypoint_names=["wrist", "thumb"])
    (image,) = add_images(1)
    annotate(image, [(labels["face"], "keypoints", FACE),
                     (hand, "keypoints", {"points": [[1, 1, 2], [2, 2, 2]]})])
    version = build_version(project)
    response = api(users["owner"]).get(f"/api/versions/{version.pk}/export?format=yolo")
    assert response.status_code == 400
    assert "same number of keypoints" in response.data["format"][0]


# --- VOC ------------------------------------------------------------------------------------
def test_voc_xml_image_sets_and_object_masks(rich, export_zip):
    archive = export_zip(rich, "voc")
    names = set(archive.namelist())
    assert "labelmap.txt" in names
    assert archive.read("labelmap.txt").decode().splitlines()[1:3] == ["background:0,0,0::", "cat:128,0,0::"]
    train = archive.read("ImageSets/Main/train.txt").decode().split()
    assert len(train) == 2 and len(archive.read("ImageSets/Main/val.txt").decode().split()) == 2
    assert sum(1 for n in names if n.startswith("JPEGImages/")) == 6
    first = ElementTree.fromstring(archive.read(f"Annotations/{train[0]}.xml"))
    assert first.findtext("size/width") == "64" and first.findtext("segmented") == "1"
    objects = first.findall("object")
    assert [o.findtext("name") for o in objects] == ["cat", "dog"]  # keypoints have no VOC form
    box = [int(objects[0].findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
    assert box == [4, 6, 24, 16]  # 4.5, 6.25, 24.5, 16.25 rounded: within half a pixel
    masks = np.asarray(PILImage.open(io.BytesIO(archive.read(f"SegmentationObject/{train[0]}.png"))))
    assert set(np.unique(masks)) == {0, 2}  # only the polygon (second object) has pixels
    classes = np.asarray(PILImage.open(io.BytesIO(archive.read(f"SegmentationClass/{train[0]}.png"))))
    assert set(np.unique(classes)) == {0, 2}  # dog = 2 in labelmap order, background 0
    mask_image = ElementTree.fromstring(archive.read(f"Annotations/{train[1]}.xml"))
    instance = np.asarray(PILImage.open(io.BytesIO(archive.read(f"SegmentationObject/{train[1]}.png"))))
    assert (instance == 1).sum() == 160 and (instance == 2).sum() == 300
    assert [o.findtext("name") for o in mask_image.findall("object")] == ["cat", "dog"]
    test = archive.read("ImageSets/Main/test.txt").decode().split()
    difficult = ElementTree.fromstring(archive.read(f"Annotations/{test[0]}.xml")).findall("object")
    assert [o.findtext("difficult") for o in difficult] == ["1"]


# --- imagefolder and CSV --------------------------------------------------------------------
def test_imagefolder_puts_images_in_class_folders(rich, export_zip):
    archive = export_zip(rich, "imagefolder")
    listed = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    # val/1: a dog box and a cat polygon, no tag -> unclassified; val/2: tag cat -> val/cat
    assert [(r["split"], r["class"]) for r in listed] == [("val", "cat")]
    assert listed[0]["path"] in archive.namelist()
    unclassified = list(csv.DictReader(io.StringIO(archive.read("unclassified.csv").decode())))
    assert len(unclassified) == 5


def test_csv_has_one_row_per_object(rich, export_zip):
    archive = export_zip(rich, "csv", images=False)
    rows = list(csv.DictReader(io.StringIO(archive.read("annotations.csv").decode())))
    assert len(rows) == rich.annotation_count == 10
    box = next(r for r in rows if r["kind"] == "box" and r["split"] == "train")
    assert [float(box[k]) for k in ("xmin", "ymin", "xmax", "ymax")] == [4.5, 6.25, 24.5, 16.25]
    tag = next(r for r in rows if r["kind"] == "tag")
    assert tag["xmin"] == "" and tag["label"] == "cat"
    assert json.loads(next(r for r in rows if r["attributes"] != "{}")["attributes"]) in ({"iscrowd": 1}, {"difficult": True})
    assert not any(n.startswith("images/") for n in archive.namelist())


# --- TFRecord -------------------------------------------------------------------------------
@pytest.mark.slow
def test_tfrecord_is_sharded_per_split_and_parses(rich, export_zip, settings, tmp_path):
    import tensorflow as tf

    settings.EXPORT_TFRECORD_SHARD_IMAGES = 1
    archive = export_zip(rich, "tfrecord")
    names = sorted(archive.namelist())
    assert "train/train.tfrecord-00000-of-00002" in names and "train/train.tfrecord-00001-of-00002" in names
    assert "item {\n  id: 3\n  name: 'face'\n}" in archive.read("label_map.pbtxt").decode()
    records = []
    for name in names:
        if ".tfrecord-" in name and name.startswith("train/"):
            path = tmp_path / name.replace("/", "_")
            path.write_bytes(archive.read(name))
            records += [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    assert len(records) == 2
    features = records[0].features.feature
    assert features["image/height"].int64_list.value == [48]
    assert features["image/format"].bytes_list.value == [b"jpeg"]
    decoded = tf.io.decode_jpeg(features["image/encoded"].bytes_list.value[0])
    assert tuple(decoded.shape) == (48, 64, 3)
    assert list(features["image/object/class/text"].bytes_list.value) == [b"cat", b"dog", b"face"]
    assert list(features["image/object/class/label"].int64_list.value) == [1, 2, 3]
    assert features["image/object/bbox/xmin"].float_list.value[0] == pytest.approx(4.5 / 64)
    assert features["image/object/bbox/ymax"].float_list.value[0] == pytest.approx(16.25 / 48)


# --- every format ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "imagefolder", "csv"])
def test_exports_are_deterministic_and_images_optional(rich, fmt):
    def archive(images: bool) -> bytes:
        return b"".join(services.export_chunks(version=rich, fmt=fmt, with_images=images))

    assert archive(True) == archive(True)
    assert len(archive(False)) < len(archive(True)) or fmt == "imagefolder"


def test_images_keep_their_bytes(rich, export_zip):
    from annotate import storage
    from datasets.models import VersionImage

    archive = export_zip(rich, "coco")
    for row in VersionImage.objects.filter(version=rich):
        assert archive.read(f"images/{row.split}/{row.file_name}") == storage.media_path(row.file).read_bytes()


def test_png_images_keep_their_format(project, labels, build_version, export_zip, users):
    from annotate.imaging import check_image_bytes
    from annotate.uploads import images_store_checked

    checked = check_image_bytes(image_bytes(32, 32, seed=9, fmt="PNG"))
    images_store_checked(project=project, checked=[("flat.png", checked)], user=users["owner"], source="upload")
    archive = export_zip(build_version(project), "yolo")
    assert any(n.endswith("/flat.png") for n in archive.namelist())


def test_coco_entries_made_at_build_equal_those_made_on_the_fly(rich):
    from datasets.models import DatasetVersion
    from export.dataset_formats import coco

    assert rich.materialized["coco"] == coco.FRAGMENT_REVISION
    stored = b"".join(services.export_chunks(version=rich, fmt="coco", with_images=False))
    DatasetVersion.objects.filter(pk=rich.pk).update(materialized={})  # as if built by an older release
    rich.refresh_from_db()
    assert b"".join(services.export_chunks(version=rich, fmt="coco", with_images=False)) == stored


def test_coco_annotation_ids_are_unique_across_the_version(rich, export_zip):
    archive = export_zip(rich, "coco", images=False)
    ids = [a["id"] for split in ("train", "val", "test")
           for a in json.loads(archive.read(f"annotations/instances_{split}.json"))["annotations"]]
    assert len(ids) == len(set(ids)) == rich.annotation_count - 1  # all but the tag


@pytest.mark.parametrize("images", [True, False])
def test_yolo_label_text_made_at_build_equals_text_made_on_the_fly(rich, images):
    from datasets.models import DatasetVersion
    from export.dataset_formats import yolo as yolo_format

    assert rich.materialized["yolo"] == yolo_format.LINES_REVISION
    stored = b"".join(services.export_chunks(version=rich, fmt="yolo", with_images=images))
    DatasetVersion.objects.filter(pk=rich.pk).update(materialized={})
    rich.refresh_from_db()
    assert b"".join(services.export_chunks(version=rich, fmt="yolo", with_images=images)) == stored


def test_a_version_yolo_cannot_hold_is_not_materialized_for_it(project, labels, add_images, build_version):
    from annotate import services as annotate_services

    hand = annotate_services.label_create(project=project, name="hand", keypoint_names=["wrist", "thumb"])
    (image,) = add_images(1)
    annotate(image, [(labels["face"], "keypoints", FACE), (hand, "keypoints", {"points": [[1, 1, 2], [2, 2, 2]]})])
    version = build_version(project)
    assert version.status == "ready" and "yolo" not in version.materialized



# --- instance groups: one object per group in every writer ----------------------------------
def _by_count(items: list[list]) -> dict[int, list]:
    """Per-image lists keyed by their length (the fixture's images have different object counts)."""
    out = {len(item): item for item in items}
    assert len(out) == len(items)
    return out


def test_grouped_version_counts_objects(grouped):
    assert grouped.annotation_count == 14
    assert grouped.counts["objects"]["train"] == {"cat": 2, "dog": 2, "face": 3}
    assert grouped.counts["objects"]["val"] == {"cat": 1, "dog": 1, "face": 0}


def test_coco_writes_one_entry_per_object(grouped, export_zip):
    from tests.export.conftest import rect_mask

    archive = export_zip(grouped, "coco", images=False)
    train = json.loads(archive.read("annotations/instances_train.json"))
    per_image: dict[int, list] = {}
    for ann in train["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann)
    entries = _by_count(list(per_image.values()))
    character, cat, face = entries[3]
    assert (character["category_id"], cat["category_id"], face["category_id"]) == (3, 1, 3)
    # mask + box + keypoints: one entry with all three; the box is the box part, not the mask's
    assert character["bbox"] == [3.5, 4.5, 21.0, 26.0]
    assert character["segmentation"] == {"size": [48, 64], "counts": rect_mask(5, 30, 4, 24)["rle"]["counts"]}
    assert character["area"] == 500.0 and character["iscrowd"] == 0
    assert character["keypoints"] == [8, 10, 2, 18, 10, 2, 13, 20, 1] and character["num_keypoints"] == 3
    assert "lensforge_bbox_derived" not in character
    assert cat["bbox"] == [30, 4, 20, 12] and cat["area"] == 240.0 and isinstance(cat["segmentation"], dict)
    assert "keypoints" not in cat and "lensforge_bbox_derived" not in cat
    assert face["bbox"] == [38, 28, 14, 14] and face["segmentation"] == [] and face["area"] == 196
    assert face["keypoints"] == [40, 30, 2, 50, 30, 2, 45, 40, 2] and "lensforge_bbox_derived" not in face
    # single parts: the box of a mask, a polygon or keypoints is derived, and the entry says so
    dog_mask, cat_polygon, lone_face, dog_box = entries[4]
    assert dog_mask["bbox"] == [5.0, 30.0, 25.0, 15.0] and dog_mask["lensforge_bbox_derived"] is True
    assert dog_mask["area"] == 375.0
    assert cat_polygon["bbox"] == [35, 20, 25, 25] and cat_polygon["lensforge_bbox_derived"] is True
    assert cat_polygon["segmentation"] == [[35, 20, 60, 20, 60, 45, 35, 45]]
    assert lone_face["bbox"] == [10, 5, 10, 3] and lone_face["area"] == 30 and lone_face["segmentation"] == []
    assert lone_face["lensforge_bbox_derived"] is True and lone_face["num_keypoints"] == 2
    assert dog_box["bbox"] == [40, 2, 20, 10] and "lensforge_bbox_derived" not in dog_box
    val = json.loads(archive.read("annotations/instances_val.json"))["annotations"]
    assert [(a["category_id"], a["bbox"], bool(a["segmentation"])) for a in val] == [
        (1, [1.5, 1.5, 29.0, 29.0], True), (2, [35, 10, 20, 20], False),
    ]
    ids = sorted(a["id"] for a in train["annotations"] + val)
    assert ids == list(range(1, 10))  # one id per object, unique in the version
    assert not json.loads(archive.read("annotations/instances_test.json"))["annotations"]


def test_coco_grouped_export_against_itself_gives_ap_1(grouped, export_zip, tmp_path):
    archive = export_zip(grouped, "coco", images=False)
    train, val = (_load_coco(archive, split, tmp_path) for split in ("train", "val"))
    assert len(train.getAnnIds()) == 7 and len(val.getAnnIds()) == 2
    assert _ap(train, "bbox", [1, 2, 3]) == pytest.approx(1.0)
    assert _ap(val, "bbox", [1, 2]) == pytest.approx(1.0)
    assert _ap(_with_segmentation(train), "segm", [1, 2, 3]) == pytest.approx(1.0)
    assert _ap(_with_segmentation(val), "segm", [1]) == pytest.approx(1.0)
    assert _ap(train, "keypoints", [3], sigmas=[0.05] * 3) == pytest.approx(1.0)


def test_yolo_pose_has_one_row_per_object(grouped, export_zip):
    archive = export_zip(grouped, "yolo", images=False)
    assert yaml.safe_load(archive.read("data.yaml"))["kpt_shape"] == [3, 3]
    rows = _by_count([_lines(archive, n) for n in archive.namelist() if n.startswith("labels/train/")])
    character, cat, face = rows[3]
    assert character[:5] == pytest.approx([2, 14 / 64, 17.5 / 48, 21 / 64, 26 / 48], abs=1e-6)  # the box part
    assert character[5:] == pytest.approx([8 / 64, 10 / 48, 2, 18 / 64, 10 / 48, 2, 13 / 64, 20 / 48, 1], abs=1e-6)
    assert cat[:5] == pytest.approx([0, 40 / 64, 10 / 48, 20 / 64, 12 / 48], abs=1e-6) and cat[5:] == [0] * 9
    assert face[:5] == pytest.approx([2, 45 / 64, 35 / 48, 14 / 64, 14 / 48], abs=1e-6)
    dog_mask, cat_polygon, lone_face, dog_box = rows[4]
    assert dog_mask[:5] == pytest.approx([1, 17.5 / 64, 37.5 / 48, 25 / 64, 15 / 48], abs=1e-6)
    assert cat_polygon[0] == 0 and lone_face[0] == 2 and dog_box[0] == 1
    assert lone_face[1:5] == pytest.approx([15 / 64, 6.5 / 48, 10 / 64, 3 / 48], abs=1e-6)
    [val] = [_lines(archive, n) for n in archive.namelist() if n.startswith("labels/val/")]
    assert [row[0] for row in val] == [0, 1]
    assert val[0][1:5] == pytest.approx([16 / 64, 16 / 48, 29 / 64, 29 / 48], abs=1e-6)  # the box part, not the polygon's


def test_yolo_segment_has_one_outline_per_object(project, labels, add_images, build_version, export_zip):
    from tests.export.conftest import rect_mask

    (image,) = add_images(1)
    annotate(image, [
        (labels["cat"], "box", {"x": 15, "y": 11, "w": 34, "h": 26}, 1),
        (labels["cat"], "mask", rect_mask(12, 36, 16, 48), 1),
        (labels["dog"], "polygon", {"polygons": [[0, 0, 64, 0, 32, 48]]}, 2),
        (labels["dog"], "box", {"x": 0, "y": 0, "w": 64, "h": 48}, 2),
        (labels["cat"], "box", {"x": 16, "y": 12, "w": 32, "h": 24}),
    ])
    set_split([image], "train")
    archive = export_zip(build_version(project), "yolo", images=False)
    [name] = [n for n in archive.namelist() if n.startswith("labels/train/")]
    mask_line, polygon_line, box_line = _lines(archive, name)
    xs, ys = np.array(mask_line[1::2]) * 64, np.array(mask_line[2::2]) * 48
    assert mask_line[0] == 0 and (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((16, 47, 12, 35))
    assert polygon_line == pytest.approx([1, 0, 0, 1, 0, 0.5, 1])  # the outline; the group's box is not repeated
    assert box_line == pytest.approx([0, 0.25, 0.25, 0.75, 0.25, 0.75, 0.75, 0.25, 0.75])


def test_voc_has_one_object_per_group(grouped, export_zip):
    archive = export_zip(grouped, "voc", images=False)
    stems = archive.read("ImageSets/Main/train.txt").decode().split()
    xmls = {stem: ElementTree.fromstring(archive.read(f"Annotations/{stem}.xml")) for stem in stems}
    assert [len(xml.findall("object")) for xml in xmls.values()] == [3, 3]
    seen = []
    for stem, xml in xmls.items():
        names = [o.findtext("name") for o in xml.findall("object")]
        instances = np.asarray(PILImage.open(io.BytesIO(archive.read(f"SegmentationObject/{stem}.png"))))
        if names == ["face", "cat", "face"]:  # the character, the cat (box + mask) and a face (keypoints + box)
            box = [int(xml.findall("object")[0].findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            assert box == [round(3.5), round(4.5), round(24.5), round(30.5)]  # the box part
            assert (instances == 1).sum() == 500 and (instances == 2).sum() == 240 and set(np.unique(instances)) == {0, 1, 2}
        else:  # the lone keypoints have no VOC form
            assert names == ["dog", "cat", "dog"]
            assert (instances == 1).sum() == 375 and set(np.unique(instances)) == {0, 1, 2}
        seen.append(names)
    assert sorted(seen) == [["dog", "cat", "dog"], ["face", "cat", "face"]]


def test_csv_has_one_row_per_group(grouped, export_zip):
    archive = export_zip(grouped, "csv", images=False)
    rows = list(csv.DictReader(io.StringIO(archive.read("annotations.csv").decode())))
    assert len(rows) == 9
    assert sorted(r["kind"] for r in rows) == sorted(
        ["box+mask+keypoints", "box+mask", "box+keypoints", "mask", "polygon", "keypoints", "box", "box+polygon", "box"]
    )
    character = next(r for r in rows if r["kind"] == "box+mask+keypoints")
    assert [float(character[k]) for k in ("xmin", "ymin", "xmax", "ymax")] == [3.5, 4.5, 24.5, 30.5]
    geometry = json.loads(character["geometry"])
    assert set(geometry) == {"box", "mask", "keypoints"} and geometry["box"] == {"x": 3.5, "y": 4.5, "w": 21.0, "h": 26.0}
    assert json.loads(character["attributes"]) == {"box": {}, "mask": {}, "keypoints": {}}
    single = next(r for r in rows if r["kind"] == "polygon")
    assert json.loads(single["geometry"]) == {"polygons": [[35.0, 20.0, 60.0, 20.0, 60.0, 45.0, 35.0, 45.0]]}


@pytest.mark.slow
def test_tfrecord_has_one_object_per_group(grouped, export_zip, tmp_path):
    import tensorflow as tf

    archive = export_zip(grouped, "tfrecord", images=False)
    [name] = [n for n in archive.namelist() if n.startswith("train/")]
    path = tmp_path / "train.tfrecord"
    path.write_bytes(archive.read(name))
    records = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    by_count = {len(r.features.feature["image/object/class/text"].bytes_list.value): r for r in records}
    assert sorted(by_count) == [3, 4]
    character = by_count[3].features.feature
    assert list(character["image/object/class/text"].bytes_list.value) == [b"face", b"cat", b"face"]
    assert character["image/object/bbox/xmin"].float_list.value[0] == pytest.approx(3.5 / 64)
    assert character["image/object/bbox/ymax"].float_list.value[0] == pytest.approx(30.5 / 48)


def test_coco_keypoints_with_an_older_bbox_attribute_keep_it_as_their_box(project, labels, add_images, build_version,
                                                                         export_zip):
    (image,) = add_images(1)
    annotate(image, [(labels["face"], "keypoints", FACE, {"bbox": [5, 5, 40, 30]})])  # as imports used to store it
    set_split([image], "train")
    [entry] = json.loads(export_zip(build_version(project), "coco", images=False)
                         .read("annotations/instances_train.json"))["annotations"]
    assert entry["bbox"] == [5, 5, 40, 30] and entry["area"] == 1200
    assert "lensforge_bbox_derived" not in entry  # a box the dataset gave: importing again makes it a box
