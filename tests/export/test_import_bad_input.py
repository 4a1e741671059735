"""Every kind of bad dataset is refused with a report naming the file and object, and changes nothing."""

import pytest

from annotate import storage
from annotate.imaging import check_image_bytes
from annotate.models import Annotation
from export.dataset_import import clip_geometry, dataset_import
from export.dataset_importers.common import ImportRefused
from tests.export.import_fixtures import (
    coco_box,
    coco_dataset,
    coco_image,
    coco_json,
    jpeg,
    project_counts,
    write_folder,
    write_zip,
)

pytestmark = pytest.mark.django_db


def _refused(project, path, format="coco", **options) -> ImportRefused:
    before = project_counts(project)
    with pytest.raises(ImportRefused) as caught:
        dataset_import(project=project, path=path, format=format, **options)
    assert project_counts(project) == before
    return caught.value


@pytest.mark.parametrize(
    "members, file, object, message",
    [
        ({"annotations/instances_train.json": '{"images": [', "images/a.jpg": jpeg()},
         "annotations/instances_train.json", "", "not valid JSON: Expecting value at line 1, column 13"),
        ({"annotations/instances_train.json": "", "images/a.jpg": jpeg()},
         "annotations/instances_train.json", "", "The file is empty."),
        ({"annotations/instances_train.json": '{"info": {}}', "images/a.jpg": jpeg()},
         "", "", "No COCO annotation file"),
        ({**coco_dataset(), "images/a.jpg": b""}, "images/a.jpg", "", "The file is empty."),
        ({"annotations/instances_train.json": coco_dataset()["annotations/instances_train.json"]},
         "instances_train.json", "image id 1", "The image file 'a.jpg' is not in the dataset."),
        (coco_dataset(categories=[{"id": 8, "name": "dog"}]),
         "annotations/instances_train.json", "annotation id 1", "Its category_id 7 is not among the categories."),
        (coco_dataset(annotations=[coco_box(1, 1, 7, [4, 4, 20, 10]), coco_box(1, 1, 7, [1, 1, 2, 2])]),
         "annotations/instances_train.json", "annotation id 1", "The annotation id 1 is used twice."),
        (coco_dataset(categories=[{"id": 7, "name": "cat"}, {"id": 7, "name": "dog"}]),
         "annotations/instances_train.json", "category id 7", "The category id 7 is used twice."),
        (coco_dataset(annotations=[coco_box(1, 1, 7, [50, 4, 20, 10])]),
         "annotations/instances_train.json", "annotation id 1", "The box's bottom-right corner (70, 14) lies outside the 64x48 image."),
        (coco_dataset(annotations=[coco_box(1, 2, 7, [1, 1, 2, 2])]),
         "annotations/instances_train.json", "annotation id 1", "It refers to image id 2, which is not in 'images'."),
        (coco_dataset(annotations=[coco_box(1, 1, 7, [1, 1, 2, 2], segmentation={"size": [48, 64], "counts": "!!"})]),
         "annotations/instances_train.json", "annotation id 1", "invalid character"),
        (coco_dataset(annotations=[coco_box(1, 1, 7, [1, 1, 2, 2], segmentation=[[1, 1, 2, 2]])]),
         "annotations/instances_train.json", "annotation id 1", "Polygon part 0 has 2 points; at least 3 are needed."),
    ],
    ids=[
        "malformed-json", "empty-json", "not-coco-json", "empty-image", "missing-image", "unknown-category",
        "duplicate-annotation-id", "duplicate-category-id", "box-outside", "unknown-image-id", "broken-rle",
        "degenerate-polygon",
    ],
)
def test_bad_coco_is_refused(project, tmp_path, members, file, object, message):
    refused = _refused(project, write_zip(tmp_path, members))
    problem = refused.report.problems[0]
    assert (problem.file, problem.object) == (file, object)
    assert message in problem.message
    assert message in str(refused)


def test_duplicate_image_ids_and_declared_size_mismatch(project, tmp_path):
    doc = coco_json(
        [coco_image(1, "a.jpg"), coco_image(1, "b.jpg"), coco_image(2, "c.jpg", width=640, height=480)],
        [], [{"id": 1, "name": "cat"}],
    )
    path = write_zip(tmp_path, {"a.json": doc, "a.jpg": jpeg(seed=1), "b.jpg": jpeg(seed=2), "c.jpg": jpeg(seed=3)})
    refused = _refused(project, path)
    assert [str(p) for p in refused.report.problems] == [
        "a.json, image id 1: The image id 1 is used twice.",
        "a.json: It gives the size of c.jpg as 640x480, but the image is 64x48 (after its EXIF orientation is applied).",
    ]


def test_the_report_lists_the_first_problems_and_counts_all(project, tmp_path):
    annotations = [coco_box(i, 1, 99, [1, 1, 2, 2]) for i in range(1, 61)]
    refused = _refused(project, write_zip(tmp_path, coco_dataset(annotations=annotations)))
    assert refused.report.count == 60
    text = str(refused)
    assert text.startswith("The dataset has 60 problem(s), so nothing was imported.")
    assert "annotation id 1: Its category_id 99" in text and "... and 40 more." in text


def test_nothing_is_written_when_one_image_of_many_is_bad(project, tmp_path):
    seeds = range(901, 906)
    doc = coco_json(
        [coco_image(i, f"{i}.jpg") for i in seeds],
        [coco_box(i, i, 7, [1, 1, 5, 5]) for i in seeds],
        [{"id": 7, "name": "cat"}],
    )
    members = {"instances_train.json": doc, **{f"{i}.jpg": jpeg(seed=i) for i in seeds}, "905.jpg": b"GIF89a..."}
    refused = _refused(project, write_zip(tmp_path, members))
    assert str(refused.report.problems[0]).startswith("905.jpg: The file is not an image")
    # No image file was stored either: every check comes before any write.
    for seed in range(901, 905):
        checked = check_image_bytes(jpeg(seed=seed))
        assert not storage.media_path(storage.image_relative_path(checked.sha256, checked.extension)).exists()


def test_format_that_does_not_match_the_content(project, tmp_path):
    path = write_zip(tmp_path, coco_dataset())
    refused = _refused(project, path, format="voc")
    assert "no .xml annotation file" in str(refused) and "look like a coco dataset" in str(refused)
    refused = _refused(project, path, format="yolo")
    assert "no data.yaml" in str(refused)
    refused = _refused(project, path, format="imagefolder")
    assert "annotation files" in str(refused)


def test_zip_slip_bomb_and_not_a_zip_are_refused(project, tmp_path, settings):
    assert "climbs out" in str(_refused(project, write_zip(tmp_path, {"../evil.jpg": jpeg(), **coco_dataset()})))
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 1024 * 1024
    bomb = write_zip(tmp_path, {**coco_dataset(), "zeros.bin": b"\0" * (4 * 1024 * 1024)})
    assert "zip bomb" in str(_refused(project, bomb))
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    assert "not a readable zip" in str(_refused(project, not_zip))


def test_clip_option_clips_slightly_outside_boxes_and_says_how_many(project, tmp_path):
    annotations = [
        coco_box(1, 1, 7, [-2, 4, 20, 10]),  # 2 px left of the image
        coco_box(2, 1, 7, [50, 40, 16, 10]),  # 2 px right and below
        coco_box(3, 1, 7, [4, 4, 20, 10], keypoints=None),
    ]
    path = write_zip(tmp_path, coco_dataset(annotations=annotations))
    _refused(project, path)  # without the option: refused
    result = dataset_import(project=project, path=path, format="coco", clip=True)
    assert result["clipped"] == 2 and result["annotations_created"] == 3
    boxes = sorted(tuple(a.geometry[k] for k in "xywh") for a in Annotation.objects.all())
    assert boxes == [(0.0, 4.0, 18.0, 10.0), (4.0, 4.0, 20.0, 10.0), (50.0, 40.0, 14.0, 8.0)]


def test_clip_does_not_rescue_boxes_far_outside(project, tmp_path):
    path = write_zip(tmp_path, coco_dataset(annotations=[coco_box(1, 1, 7, [40, 4, 60, 10])]))
    refused = _refused(project, path, clip=True)
    assert "outside the 64x48 image" in str(refused)


def test_clip_geometry_for_polygons_and_keypoints():
    polygon, changed = clip_geometry("polygon", {"polygons": [[-1, 0, 65, 0, 65, 49]]}, 64, 48)
    assert changed and polygon == {"polygons": [[0.0, 0, 64.0, 0, 64.0, 48.0]]}
    points, changed = clip_geometry("keypoints", {"points": [[-3, 5, 2], [-50, 5, 0], [10, 10, 1]]}, 64, 48)
    assert changed and points == {"points": [[0.0, 5, 2], [-50, 5, 0], [10, 10, 1]]}
    same, changed = clip_geometry("box", {"x": 1, "y": 1, "w": 2, "h": 2}, 64, 48)
    assert not changed and same == {"x": 1, "y": 1, "w": 2, "h": 2}


def test_a_folder_is_imported_like_a_zip(project, tmp_path):
    folder = write_folder(tmp_path / "set", coco_dataset())
    result = dataset_import(project=project, path=folder, format="coco")
    assert result["images_created"] == 1 and result["annotations_created"] == 1


@pytest.mark.parametrize(
    "members, format, message",
    [
        ({"data.yaml": "", "images/a.jpg": jpeg(), "labels/a.txt": ""}, "yolo", "data.yaml: The file is empty."),
        ({"data.yaml": "names: [cat, cat]\n", "images/a.jpg": jpeg(), "labels/a.txt": ""}, "yolo",
         "data.yaml: The class names repeat."),
        ({"data.yaml": "names: [cat]\nkpt_shape: [3, 4]\n", "images/a.jpg": jpeg(), "labels/a.txt": ""}, "yolo",
         "'kpt_shape' must be [number of keypoints, 2 or 3]"),
        ({"Annotations/a.xml": "<annotation><filename>a.jpg</filename></annotation>",
          "Annotations/b.xml": "<annotation><filename>a.jpg</filename></annotation>", "JPEGImages/a.jpg": jpeg()},
         "voc", "Annotations/b.xml: The image JPEGImages/a.jpg is also described by Annotations/a.xml."),
        ({"x.json": coco_json([coco_image(1, "a.jpg")], [], []), "y.json": coco_json([coco_image(1, "a.jpg")], [], []),
          "a.jpg": jpeg()}, "coco", "y.json, image id 1: The image file a.jpg is listed twice (also in x.json)."),
        ({"a.json": coco_json([coco_image(1, "a.jpg")], [], [{"id": 1, "name": "p", "keypoints": ["a"],
                                                              "skeleton": [[1, 5]]}]), "a.jpg": jpeg()},
         "coco", "category id 1: The skeleton edge [1, 5] does not join two of its 1 keypoints."),
        ({"a.json": coco_json([coco_image(1, "a.jpg")], [coco_box(1, 1, 1, [1, 1, 2, 2], keypoints=[1, 1])],
                              [{"id": 1, "name": "p", "keypoints": ["a", "b"]}]), "a.jpg": jpeg()},
         "coco", "annotation id 1: 'keypoints' must hold 3 x 2 numbers for 'p'; got 2."),
        ({"a.json": coco_json([coco_image(1, "a.jpg")], [coco_box(1, 1, 1, [1, 1, 2, 2], keypoints=[1, 1, 2, 70, 1, 2])],
                              [{"id": 1, "name": "p", "keypoints": ["a", "b"]}]), "a.jpg": jpeg()},
         "coco", "annotation id 1: Keypoint 'b' (70, 1) lies outside the 64x48 image."),
    ],
    ids=["empty-yaml", "duplicate-class-names", "bad-kpt-shape", "two-xml-one-image", "image-in-two-json",
         "bad-skeleton", "wrong-keypoint-count", "keypoint-outside"],
)
def test_more_bad_datasets(project, tmp_path, members, format, message):
    refused = _refused(project, write_zip(tmp_path, members), format=format)
    assert message in str(refused)


def test_deeply_nested_json_is_a_problem_not_a_crash(project, tmp_path):
    members = {**coco_dataset(), "annotations/deep.json": "[" * 100_000 + "]" * 100_000}
    assert "nested too deeply" in str(_refused(project, write_zip(tmp_path, members)))
