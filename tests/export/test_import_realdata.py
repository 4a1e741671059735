"""Importing real, human-annotated datasets that nobody here made (see ../shared/datasets/README.md)."""

import hashlib
import json
import shutil
from collections import Counter

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate.geometry import rle_to_mask
from annotate.models import Annotation, Image, LabelClass
from export.dataset_import import dataset_import
from tests.conftest import REAL_DATA

pytestmark = [pytest.mark.django_db, pytest.mark.realdata, pytest.mark.slow]


def test_raccoon_voc(project):
    folder = REAL_DATA / "raccoon-voc"
    result = dataset_import(project=project, path=folder, format="voc")
    assert result["image_files"] == 200
    assert result["annotations_by_kind"] == {"box": 217}
    # A few files of the set are byte-identical copies, labelled separately: each stays its own image
    # with its own boxes (sharing one stored file), and the pairs are reported.
    by_content: dict[str, list[str]] = {}
    for path in sorted((folder / "images").iterdir()):
        by_content.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), []).append(path.name)
    copies = sum(len(names) - 1 for names in by_content.values())
    assert copies == 4
    assert result["images_created"] == 200 and result["images_existing"] == 0
    assert result["duplicate_files"] == copies == len(result["duplicate_file_pairs"])
    groups = {tuple(names) for names in by_content.values() if len(names) > 1}
    reported = {(pair["same_as"].rsplit("/", 1)[-1], pair["file"].rsplit("/", 1)[-1])
                for pair in result["duplicate_file_pairs"]}
    assert reported == {(names[0], names[1]) for names in groups}
    assert Annotation.objects.filter(image__project=project).count() == 217
    assert [label.name for label in LabelClass.objects.filter(project=project)] == ["raccoon"]
    images = Image.objects.filter(project=project, source="import")
    assert images.count() == 200 and images.values("sha256").distinct().count() == len(by_content)
    for first, second in groups:  # both copies are there, each with the boxes of its own XML
        a, b = images.get(original_name=first), images.get(original_name=second)
        assert a.pk != b.pk and a.sha256 == b.sha256 and a.file == b.file
        for image in (a, b):
            xml = (folder / "annotations" / image.meta["import_path"].rsplit("/", 1)[-1]).with_suffix(".xml")
            assert image.annotations.count() == xml.read_text().count("<object>")
    again = dataset_import(project=project, path=folder, format="voc")
    assert (again["images_created"], again["annotations_created"], again["images_existing"]) == (0, 0, 200)
    assert Image.objects.filter(project=project).count() == 200
    box = Annotation.objects.get(image__original_name="raccoon-1.jpg")
    assert box.geometry == {"x": 81.0, "y": 88.0, "w": 441.0, "h": 320.0}


def test_coco128_instances(project, tmp_path):
    folder = REAL_DATA / "coco128-instances"
    source = json.loads((folder / "annotations" / "instances_train2017.json").read_text())
    result = dataset_import(project=project, path=folder, format="coco")

    assert result["images_created"] == 128
    assert result["splits"]["train"] == 128
    # Every object keeps its box and its outline, one instance group each.
    assert result["annotations_created"] == 2 * 939
    assert result["annotations_by_kind"] == {"box": 939, "polygon": 929, "mask": 10}
    assert len(result["labels_created"]) == 80
    # Non-contiguous category ids: every object lands on the category of the same name.
    names = {c["id"]: c["name"] for c in source["categories"]}
    expected = Counter(names[a["category_id"]] for a in source["annotations"])
    assert Counter(Annotation.objects.filter(kind="box").values_list("label__name", flat=True)) == expected
    assert not Annotation.objects.filter(group=None).exists()
    # Crowd RLE masks decode to exactly the source's pixels, flagged as crowd.
    crowd = [a for a in source["annotations"] if a["iscrowd"]]
    files = {i["id"]: i["file_name"] for i in source["images"]}
    for ann in crowd:
        stored = Annotation.objects.get(kind="mask", image__original_name=files[ann["image_id"]], label__name=names[ann["category_id"]])
        assert stored.attributes["iscrowd"] == 1
        box = Annotation.objects.get(image=stored.image, group=stored.group, kind="box")
        assert [box.geometry[k] for k in "xywh"] == ann["bbox"]
        h, w = ann["segmentation"]["size"]
        expected_mask = mask_utils.decode(mask_utils.frPyObjects(ann["segmentation"], h, w))
        assert np.array_equal(rle_to_mask(stored.geometry), expected_mask)
    # Multi-polygon objects keep all their parts in one annotation.
    parts = Counter(len(a["segmentation"]) for a in source["annotations"] if not a["iscrowd"])
    stored_parts = Counter(len(a.geometry["polygons"]) for a in Annotation.objects.filter(kind="polygon"))
    assert stored_parts == parts and stored_parts[1] < 929


def test_coco128_from_a_zip_through_the_command_path(project, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "coco128"), "zip", REAL_DATA, "coco128-instances")
    result = dataset_import(project=project, path=archive, format="coco")
    assert (result["images_created"], result["annotations_created"]) == (128, 2 * 939)


def test_deeplabcut_mouse_keypoints(project):
    folder = REAL_DATA / "dlc-openfield-keypoints"
    source = json.loads((folder / "annotations.json").read_text())
    result = dataset_import(project=project, path=folder, format="coco")
    assert result["images_created"] == 116
    assert result["annotations_by_kind"] == {"box": 116, "keypoints": 116}  # each mouse: its box and its points
    label = LabelClass.objects.get(project=project)
    assert (label.name, label.keypoint_names, label.skeleton) == ("mouse", ["snout", "leftear", "rightear", "tailbase"], [])
    files = {i["id"]: i["file_name"] for i in source["images"]}
    for ann in source["annotations"][:20]:
        stored = Annotation.objects.get(image__original_name=files[ann["image_id"]], kind="keypoints")
        expected = [[x, y, v] if v else [0.0, 0.0, 0] for x, y, v in zip(*[iter(ann["keypoints"])] * 3)]
        assert stored.geometry["points"] == expected
        assert stored.attributes == {} and stored.group == 1
        box = Annotation.objects.get(image=stored.image, kind="box", group=1)
        assert [box.geometry[k] for k in "xywh"] == ann["bbox"]


def test_mmpose_person_keypoints(project):
    folder = REAL_DATA / "mmpose-coco-keypoints" / "person"
    source = json.loads((folder / "annotations.json").read_text())
    result = dataset_import(project=project, path=folder, format="coco")
    assert result["images_created"] == 4
    labelled = [a for a in source["annotations"] if any(a["keypoints"][2::3])]
    # Each of the 14 people is one group: its box, its segmentation (kept), and its keypoints
    # when some are labelled.
    assert result["annotations_by_kind"] == {"box": 14, "polygon": 14, "keypoints": 12}
    assert result["annotations_by_kind"]["keypoints"] == len(labelled) == 12
    assert result["annotations_created"] == 40
    groups = Counter(Annotation.objects.filter(image__project=project).values_list("image_id", "group"))
    assert len(groups) == 14 and None not in {group for _, group in groups}
    assert sorted(groups.values()) == [2] * 2 + [3] * 12
    files = {i["id"]: i["file_name"] for i in source["images"]}
    for ann in source["annotations"]:  # the segmentation and the box exactly as in the file
        box = Annotation.objects.get(kind="box", image__original_name=files[ann["image_id"]],
                                     geometry={k: float(v) for k, v in zip("xywh", ann["bbox"])})
        polygon = Annotation.objects.get(image=box.image, group=box.group, kind="polygon")
        assert polygon.geometry["polygons"] == ann["segmentation"]
    label = LabelClass.objects.get(project=project, name="person")
    assert len(label.keypoint_names) == 17
    assert label.skeleton[0] == [15, 13]  # COCO's [16, 14], 1-based
    # Visibility-0 points are kept as unlabelled (0, 0, 0), the others exactly.
    ann = next(a for a in labelled if 0 in a["keypoints"][2::3])
    box = Annotation.objects.get(kind="box", geometry={k: float(v) for k, v in zip("xywh", ann["bbox"])})
    stored = Annotation.objects.get(kind="keypoints", image=box.image, group=box.group)
    for (x, y, v), point in zip(zip(*[iter(ann["keypoints"])] * 3), stored.geometry["points"]):
        assert point == ([x, y, v] if v else [0, 0, 0])


def test_mmpose_hand_keypoints(project):
    result = dataset_import(project=project, path=REAL_DATA / "mmpose-coco-keypoints" / "hand", format="coco")
    assert result["images_created"] == 4
    assert result["annotations_by_kind"] == {"box": 4, "polygon": 4, "keypoints": 4}  # 4 hands, 3 parts each
    label = LabelClass.objects.get(project=project, name="hand")
    assert len(label.keypoint_names) == 21 and [0, 1] in label.skeleton
