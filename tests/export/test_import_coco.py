import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate.geometry import rle_to_mask
from annotate.models import Annotation, Image, LabelClass
from annotate.services import label_create
from export.dataset_import import dataset_import
from tests.export.import_fixtures import coco_box, coco_image, coco_json, jpeg, project_counts, write_zip

pytestmark = pytest.mark.django_db


def _crowd_mask(height=48, width=64):
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[10:30, 5:25] = 1
    mask[35:40, 50:60] = 1
    return mask


def _uncompressed_rle(mask: np.ndarray) -> dict:
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": [int(c) for c in counts]}


def test_instances_with_polygons_crowd_masks_and_non_contiguous_ids(project, users, tmp_path):
    crowd = _crowd_mask()
    train = coco_json(
        [coco_image(10, "one.jpg"), coco_image(11, "two.jpg")],
        [
            coco_box(100, 10, 3, [1, 2, 30, 20]),
            coco_box(101, 10, 90, [0, 0, 10, 10], segmentation=[[1, 1, 20, 1, 20, 15], [30, 30, 40, 30, 40, 40, 30, 40]]),
            coco_box(102, 11, 90, [5, 10, 20, 30], segmentation=_uncompressed_rle(crowd), iscrowd=1),
        ],
        [{"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}, {"id": 44, "name": "unused"}],
    )
    val = coco_json([coco_image(1, "three.jpg")], [coco_box(1, 1, 3, [2, 2, 4, 4])], [{"id": 3, "name": "car"}])
    path = write_zip(tmp_path, {
        "annotations/instances_train2017.json": train,
        "annotations/instances_val2017.json": val,
        "images/one.jpg": jpeg(seed=1), "images/two.jpg": jpeg(seed=2), "images/three.jpg": jpeg(seed=3),
    })

    result = dataset_import(project=project, path=path, format="coco", user=users["owner"])

    assert result["images_created"] == 3
    # Every geometry of an object is kept: the segmented objects keep their boxes, in one group each.
    assert result["annotations_by_kind"] == {"box": 4, "polygon": 1, "mask": 1}
    assert sorted(result["labels_created"]) == ["car", "toothbrush", "unused"]
    assert result["splits"]["train"] == 2 and result["splits"]["val"] == 1
    assert dict(Image.objects.filter(project=project).values_list("original_name", "split")) == {
        "one.jpg": "train", "two.jpg": "train", "three.jpg": "val",
    }
    assert set(Image.objects.filter(project=project).values_list("source", flat=True)) == {"import"}
    polygon = Annotation.objects.get(kind="polygon")
    assert polygon.label.name == "toothbrush"
    assert polygon.geometry["polygons"] == [[1, 1, 20, 1, 20, 15], [30, 30, 40, 30, 40, 40, 30, 40]]
    mask = Annotation.objects.get(kind="mask")
    assert mask.attributes == {"iscrowd": 1}
    assert mask.source == "imported"
    assert np.array_equal(rle_to_mask(mask.geometry), crowd)
    box = Annotation.objects.get(kind="box", image__original_name="one.jpg", group=None)
    assert box.geometry == {"x": 1.0, "y": 2.0, "w": 30.0, "h": 20.0}
    assert polygon.group == 1 and mask.group == 1  # canonical: 1..n per image
    polygon_box = Annotation.objects.get(kind="box", image=polygon.image, group=1)
    assert polygon_box.geometry == {"x": 0.0, "y": 0.0, "w": 10.0, "h": 10.0} and polygon_box.attributes == {}
    mask_box = Annotation.objects.get(kind="box", image=mask.image, group=1)
    assert mask_box.geometry == {"x": 5.0, "y": 10.0, "w": 20.0, "h": 30.0}
    assert mask_box.attributes == {}  # iscrowd belongs to the outline


def test_compressed_rle_is_stored_identically(project, tmp_path):
    encoded = mask_utils.encode(np.asfortranarray(_crowd_mask()))
    rle = {"size": [48, 64], "counts": encoded["counts"].decode()}
    doc = coco_json([coco_image(1, "a.jpg")], [coco_box(1, 1, 1, [5, 10, 20, 30], segmentation=rle)], [{"id": 1, "name": "x"}])
    path = write_zip(tmp_path, {"instances.json": doc, "a.jpg": jpeg()})
    dataset_import(project=project, path=path, format="coco")
    assert Annotation.objects.get(kind="mask").geometry == {"rle": rle}
    assert sorted(Annotation.objects.values_list("kind", "group")) == [("box", 1), ("mask", 1)]
    assert Image.objects.get().split == "unassigned"


def test_keypoints_become_keypoint_labels_with_zero_based_skeleton(project, tmp_path):
    category = {"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3]]}
    annotations = [
        coco_box(1, 1, 1, [10, 5, 30, 30], keypoints=[20, 10, 2, 0, 0, 0, 25, 12, 1], num_keypoints=2),
        # A person with no labelled keypoint keeps its outline instead.
        coco_box(2, 1, 1, [1, 1, 5, 5], keypoints=[0] * 9, num_keypoints=0, segmentation=[[1, 1, 6, 1, 6, 6]]),
    ]
    path = write_zip(tmp_path, {
        "person_keypoints_val2017.json": coco_json([coco_image(1, "p.jpg")], annotations, [category]), "p.jpg": jpeg(),
    })
    result = dataset_import(project=project, path=path, format="coco")

    label = LabelClass.objects.get(project=project, name="person")
    assert label.keypoint_names == ["nose", "left_eye", "right_eye"]
    assert label.skeleton == [[0, 1], [0, 2]]
    keypoints = Annotation.objects.get(kind="keypoints")
    assert keypoints.geometry == {"points": [[20.0, 10.0, 2], [0.0, 0.0, 0], [25.0, 12.0, 1]]}
    assert keypoints.attributes == {}  # its box is a part of its group, not an attribute
    box = Annotation.objects.get(kind="box", group=keypoints.group)
    assert box.geometry == {"x": 10.0, "y": 5.0, "w": 30.0, "h": 30.0}
    polygon = Annotation.objects.get(kind="polygon")
    assert polygon.group not in (None, keypoints.group)
    assert Annotation.objects.filter(group=polygon.group).count() == 2  # the polygon and its box
    assert result["annotations_by_kind"] == {"box": 2, "keypoints": 1, "polygon": 1}
    assert result["splits"]["val"] == 1


def test_labels_are_matched_by_name_and_existing_images_are_not_duplicated(project, add_images, tmp_path):
    existing_label = label_create(project=project, name="cat")
    [already] = add_images(1, seed=1)  # the same bytes as the dataset's a.jpg
    doc = coco_json(
        [coco_image(1, "a.jpg"), coco_image(2, "b.jpg")],
        [coco_box(1, 1, 5, [1, 1, 5, 5]), coco_box(2, 2, 5, [2, 2, 5, 5])],
        [{"id": 5, "name": "cat"}],
    )
    path = write_zip(tmp_path, {"train.json": doc, "a.jpg": jpeg(seed=1), "b.jpg": jpeg(seed=2)})
    result = dataset_import(project=project, path=path, format="coco")

    assert result["labels_created"] == [] and result["labels_matched"] == ["cat"]
    assert result["images_created"] == 1 and result["images_existing"] == 1
    assert LabelClass.objects.filter(project=project).count() == 1
    assert Annotation.objects.filter(label=existing_label).count() == 2
    already.refresh_from_db()
    assert already.annotations.count() == 1 and already.revision == 1

    # Importing the same dataset again adds nothing: every image is there and annotated.
    again = dataset_import(project=project, path=path, format="coco")
    assert again["images_created"] == 0 and again["annotations_created"] == 0
    assert again["images_existing_already_annotated"] == 2
    assert project_counts(project) == (2, 1, 2)


def test_keypoint_label_with_other_keypoints_is_refused(project, tmp_path):
    label_create(project=project, name="person", keypoint_names=["a", "b"])
    category = {"id": 1, "name": "person", "keypoints": ["nose", "eye", "ear"]}
    doc = coco_json([coco_image(1, "p.jpg")], [coco_box(1, 1, 1, [1, 1, 5, 5], keypoints=[2, 2, 2] * 3)], [category])
    path = write_zip(tmp_path, {"a.json": doc, "p.jpg": jpeg()})
    from export.dataset_importers.common import ImportRefused

    with pytest.raises(ImportRefused, match="has keypoints"):
        dataset_import(project=project, path=path, format="coco")
    assert project_counts(project) == (0, 1, 0)


def test_images_in_folder_next_to_json_and_in_split_folders(project, tmp_path):
    # Roboflow's layout: one folder per split with its JSON and its images.
    members = {}
    for split, seed in (("train", 1), ("valid", 2), ("test", 3)):
        members[f"{split}/_annotations.coco.json"] = coco_json(
            [coco_image(0, "x.jpg")], [coco_box(0, 0, 0, [1, 1, 5, 5])], [{"id": 0, "name": "thing"}]
        )
        members[f"{split}/x.jpg"] = jpeg(seed=seed)
    result = dataset_import(project=project, path=write_zip(tmp_path, members), format="coco")
    assert result["splits"] == {"train": 1, "val": 1, "test": 1, "unassigned": 0}


def _jpeg_with_orientation(orientation: int, width: int = 64, height: int = 48) -> bytes:
    import io

    from PIL import Image as PILImage

    image = PILImage.open(io.BytesIO(jpeg(width, height, seed=orientation + 20)))
    exif = image.getexif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_annotations_on_the_raw_pixels_of_a_turned_photo_are_turned_upright(project, tmp_path):
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[10:18, 5:25] = 1  # the same pixels as the box, on the raw 64x48 image
    annotations = [
        coco_box(1, 1, 1, [5, 10, 20, 8]),
        coco_box(2, 1, 1, [5, 10, 20, 8], segmentation=_uncompressed_rle(mask)),
    ]
    # EXIF orientation 6: the camera was turned a quarter clockwise; stored upright it is 48x64.
    doc = coco_json([coco_image(1, "turned.jpg", width=64, height=48)], annotations, [{"id": 1, "name": "x"}])
    result = dataset_import(project=project, path=write_zip(tmp_path, {"a.json": doc, "turned.jpg": _jpeg_with_orientation(6)}), format="coco")
    assert result["turned_upright"] == 1
    image = Image.objects.get()
    assert (image.width, image.height) == (48, 64)
    for box in Annotation.objects.filter(kind="box"):  # the plain box and the mask's box
        assert box.geometry == {"x": 30.0, "y": 5.0, "w": 8.0, "h": 20.0}
    upright = rle_to_mask(Annotation.objects.get(kind="mask").geometry)
    assert upright.shape == (64, 48)
    ys, xs = np.nonzero(upright)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (30, 38, 5, 25)  # the box's pixels


def test_annotations_on_the_upright_photo_are_kept(project, tmp_path):
    doc = coco_json([coco_image(1, "turned.jpg", width=48, height=64)], [coco_box(1, 1, 1, [5, 10, 20, 8])], [{"id": 1, "name": "x"}])
    result = dataset_import(project=project, path=write_zip(tmp_path, {"a.json": doc, "turned.jpg": _jpeg_with_orientation(6)}), format="coco")
    assert result["turned_upright"] == 0
    assert Annotation.objects.get().geometry == {"x": 5.0, "y": 10.0, "w": 20.0, "h": 8.0}


def test_same_file_names_in_split_folders_are_told_apart(project, tmp_path):
    members = {}
    for split, seed in (("train2017", 1), ("val2017", 2)):
        members[f"annotations/instances_{split}.json"] = coco_json(
            [coco_image(1, "000001.jpg")], [coco_box(1, 1, 1, [1, 1, 5, 5] if seed == 1 else [2, 2, 8, 8])],
            [{"id": 1, "name": "thing"}],
        )
        members[f"images/{split}/000001.jpg"] = jpeg(seed=seed)
    result = dataset_import(project=project, path=write_zip(tmp_path, members), format="coco")
    assert result["splits"]["train"] == 1 and result["splits"]["val"] == 1
    assert Annotation.objects.get(image__split="val").geometry == {"x": 2.0, "y": 2.0, "w": 8.0, "h": 8.0}


PERSON = {"id": 1, "name": "person", "keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3]]}


def test_a_person_with_box_segmentation_and_keypoints_keeps_all_three_and_exports_unchanged(
    project, tmp_path, build_version, export_zip
):
    import json

    person = coco_box(5, 1, 1, [10.5, 5.25, 30, 30], segmentation=[[11, 6, 40, 6, 40, 35, 11, 35]],
                      keypoints=[20, 10, 2, 0, 0, 0, 25.5, 12, 1], num_keypoints=2)
    box_only = coco_box(6, 1, 1, [50, 20, 10, 10])
    path = write_zip(tmp_path, {"person_keypoints_train.json": coco_json([coco_image(1, "p.jpg")], [person, box_only], [PERSON]),
                                "p.jpg": jpeg()})
    result = dataset_import(project=project, path=path, format="coco")
    assert result["annotations_by_kind"] == {"box": 2, "polygon": 1, "keypoints": 1}
    parts = {a.kind: a for a in Annotation.objects.filter(group=1)}
    assert set(parts) == {"box", "polygon", "keypoints"}
    assert Annotation.objects.get(group=None).geometry == {"x": 50.0, "y": 20.0, "w": 10.0, "h": 10.0}

    version = build_version(project)
    assert version.counts["objects"]["train"]["person"] == 2  # objects, not annotations
    [entry, other] = json.loads(export_zip(version, "coco", images=False).read("annotations/instances_train.json"))["annotations"]
    assert entry["bbox"] == person["bbox"]
    assert entry["segmentation"] == person["segmentation"]
    assert entry["keypoints"] == person["keypoints"] and entry["num_keypoints"] == 2
    assert "lensforge_bbox_derived" not in entry
    assert other["bbox"] == [50, 20, 10, 10] and other["segmentation"] == [] and "keypoints" not in other


def test_a_derived_bbox_is_not_made_a_box(project, tmp_path):
    annotations = [
        coco_box(1, 1, 1, [11, 6, 29, 29], segmentation=[[11, 6, 40, 6, 40, 35, 11, 35]], lensforge_bbox_derived=True),
        coco_box(2, 1, 1, [20, 10, 5.5, 2], keypoints=[20, 10, 2, 0, 0, 0, 25.5, 12, 1], lensforge_bbox_derived=True),
        # Not a box with an area: beside a segmentation it is no part of the object.
        coco_box(3, 1, 1, [1, 1, 0, 5], segmentation=[[1, 1, 6, 1, 6, 6]]),
    ]
    path = write_zip(tmp_path, {"a.json": coco_json([coco_image(1, "p.jpg")], annotations, [PERSON]), "p.jpg": jpeg()})
    result = dataset_import(project=project, path=path, format="coco")
    assert result["annotations_by_kind"] == {"polygon": 2, "keypoints": 1}
    assert set(Annotation.objects.values_list("group", flat=True)) == {None}
