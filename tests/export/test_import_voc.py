import numpy as np
import pytest

from annotate.geometry import rle_to_mask
from annotate.models import Annotation, Image
from export.dataset_import import dataset_import
from export.dataset_importers.common import ImportRefused
from tests.export.import_fixtures import jpeg, palette_png, project_counts, voc_xml, write_zip

pytestmark = pytest.mark.django_db


def test_boxes_splits_flags_and_object_masks(project, tmp_path):
    masks = np.zeros((48, 64), dtype=np.uint8)
    masks[5:20, 5:30] = 1
    masks[25:40, 40:60] = 2
    masks[20, 5:30] = 255  # the VOC "void" border is nobody's
    path = write_zip(tmp_path, {
        "VOC/Annotations/a.xml": voc_xml("a.jpg", [("cat", (5, 5, 30, 20)), ("dog", (40, 25, 60, 40))]),
        "VOC/Annotations/b.xml": voc_xml("b.jpg", [("cat", (1, 2, 11, 12))], extra="<difficult>1</difficult>"),
        "VOC/Annotations/c.xml": voc_xml("c.jpg", []),
        "VOC/JPEGImages/a.jpg": jpeg(seed=1),
        "VOC/JPEGImages/b.jpg": jpeg(seed=2),
        "VOC/JPEGImages/c.jpg": jpeg(seed=3),
        "VOC/SegmentationObject/a.png": palette_png(masks),
        "VOC/ImageSets/Main/train.txt": "a\nc\n",
        "VOC/ImageSets/Main/val.txt": "b\n",
        "VOC/ImageSets/Main/cat_train.txt": "a  1\nb -1\n",
    })
    result = dataset_import(project=project, path=path, format="voc")

    assert result["images_created"] == 3
    assert result["splits"] == {"train": 2, "val": 1, "test": 0, "unassigned": 0}
    # An object with a mask is its box and its mask, one group.
    assert result["annotations_by_kind"] == {"box": 3, "mask": 2}
    cat_mask = Annotation.objects.get(kind="mask", label__name="cat")
    assert np.array_equal(rle_to_mask(cat_mask.geometry), masks == 1)
    a = Image.objects.get(original_name="a.jpg")
    assert [(o.label.name, o.kind, o.group) for o in a.annotations.order_by("id")] == [
        ("cat", "box", 1), ("cat", "mask", 1), ("dog", "box", 2), ("dog", "mask", 2),
    ]
    assert a.annotations.get(kind="box", group=1).geometry == {"x": 5.0, "y": 5.0, "w": 25.0, "h": 15.0}
    box = Annotation.objects.get(kind="box", image__original_name="b.jpg")
    assert box.geometry == {"x": 1.0, "y": 2.0, "w": 10.0, "h": 10.0}
    assert box.attributes == {"difficult": 1}
    assert Image.objects.get(original_name="c.jpg").annotations.count() == 0


@pytest.mark.parametrize(
    "xml, message",
    [
        ("<annotation><filename>a.jpg</filename><object><name>cat</name>", "not well-formed XML"),
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotation/>', "DOCTYPE"),
        ("", "empty"),
        (voc_xml("missing.jpg", [("cat", (1, 1, 5, 5))]), "'missing.jpg' is not in the dataset"),
        (voc_xml("a.jpg", [("cat", (1, 1, 5, 5))], size=(640, 480)), "as 640x480, but the image is 64x48"),
        (voc_xml("a.jpg", [("cat", (10, 10, 80, 20))]), "outside the 64x48 image"),
        (voc_xml("a.jpg", [("", (10, 10, 20, 20))]), "no <name>"),
    ],
)
def test_bad_xml_is_refused_and_changes_nothing(project, tmp_path, xml, message):
    path = write_zip(tmp_path, {"Annotations/a.xml": xml, "JPEGImages/a.jpg": jpeg()})
    with pytest.raises(ImportRefused) as caught:
        dataset_import(project=project, path=path, format="voc")
    assert caught.value.report.problems[0].file == "Annotations/a.xml"
    assert message in str(caught.value)
    assert project_counts(project) == (0, 0, 0)


def test_image_found_by_id_when_filename_has_no_extension(project, tmp_path):
    path = write_zip(tmp_path, {
        "Annotations/000001.xml": voc_xml("000001", [("cat", (1, 1, 10, 10))]),
        "JPEGImages/000001.jpg": jpeg(),
    })
    assert dataset_import(project=project, path=path, format="voc")["annotations_created"] == 1
