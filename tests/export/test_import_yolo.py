import pytest

from annotate.models import Annotation, Image, LabelClass
from annotate.services import label_create
from export.dataset_import import dataset_import
from export.dataset_importers.common import ImportRefused
from export.dataset_importers.yolo import label_path_for
from tests.export.import_fixtures import jpeg, project_counts, write_zip

pytestmark = pytest.mark.django_db


def test_label_path_swaps_the_last_images_folder():
    assert label_path_for("images/train/x.jpg") == "labels/train/x.txt"
    assert label_path_for("train/images/x.png") == "train/labels/x.txt"
    assert label_path_for("images/train/images/x.jpeg") == "images/train/labels/x.txt"


def test_detection_and_segmentation_with_splits(project, tmp_path):
    path = write_zip(tmp_path, {
        "data.yaml": "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n",
        "images/train/a.jpg": jpeg(64, 48, seed=1),
        "labels/train/a.txt": "0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.6 0.1 0.6 0.6 0.1 0.6\n\n",
        "images/train/b.jpg": jpeg(64, 48, seed=2),  # no label file: a background image
        "images/val/c.png": jpeg(32, 32, seed=3),
        "labels/val/c.txt": "1 0.25 0.75 0.5 0.5\n",
    })
    result = dataset_import(project=project, path=path, format="yolo")

    assert result["images_created"] == 3
    assert result["splits"] == {"train": 2, "val": 1, "test": 0, "unassigned": 0}
    assert [label.name for label in LabelClass.objects.filter(project=project)] == ["cat", "dog"]
    box = Annotation.objects.get(image__original_name="a.jpg", kind="box")
    assert box.label.name == "cat"
    assert box.geometry == pytest.approx({"x": 24.0, "y": 12.0, "w": 16.0, "h": 24.0})
    polygon = Annotation.objects.get(kind="polygon")
    assert polygon.geometry["polygons"][0] == pytest.approx([6.4, 4.8, 38.4, 4.8, 38.4, 28.8, 6.4, 28.8])
    other = Annotation.objects.get(image__original_name="c.png")
    assert other.geometry == pytest.approx({"x": 0.0, "y": 16.0, "w": 16.0, "h": 16.0})
    assert Image.objects.get(original_name="b.jpg").annotations.count() == 0


def test_pose_with_kpt_shape(project, tmp_path):
    path = write_zip(tmp_path, {
        "dataset/data.yaml": "names: [mouse]\nkpt_shape: [3, 3]\nflip_idx: [0, 2, 1]\n",
        "dataset/train/images/m.jpg": jpeg(100, 50),
        "dataset/train/labels/m.txt": "0 0.5 0.5 0.4 0.4 0.5 0.5 2 0 0 0 0.6 0.4 1\n"
                                      "0 0.2 0.2 0.2 0.2 0 0 0 0 0 0 0 0 0\n"  # no labelled point: a box
                                      "0 0.7 0.7 0.2 0.2 0.65 0.7 2 0.7 0.75 2 0.75 0.7 1\n",
    })
    result = dataset_import(project=project, path=path, format="yolo")
    label = LabelClass.objects.get(project=project)
    assert label.keypoint_names == ["kp0", "kp1", "kp2"]
    assert result["annotations_by_kind"] == {"box": 3, "keypoints": 2}
    # Each pose line is one object: its box and its keypoints, one group.
    annotations = list(Annotation.objects.order_by("id"))
    assert [(a.kind, a.group) for a in annotations] == [("box", 1), ("keypoints", 1), ("box", None), ("box", 2),
                                                        ("keypoints", 2)]
    box, annotation = annotations[:2]
    assert sum(annotation.geometry["points"], []) == pytest.approx([50.0, 25.0, 2, 0.0, 0.0, 0, 60.0, 20.0, 1])
    assert box.geometry == pytest.approx({"x": 30.0, "y": 15.0, "w": 40.0, "h": 20.0})
    assert annotation.attributes == {}  # the box is a part of the group, not an attribute
    assert annotations[2].geometry == pytest.approx({"x": 10.0, "y": 5.0, "w": 20.0, "h": 10.0})
    assert result["splits"]["train"] == 1


def test_pose_matches_an_existing_keypoint_label_by_count(project, tmp_path):
    label = label_create(project=project, name="mouse", keypoint_names=["snout", "tail"])
    path = write_zip(tmp_path, {
        "data.yaml": "names: [mouse]\nkpt_shape: [2, 2]\n",
        "images/m.jpg": jpeg(100, 50),
        "labels/m.txt": "0 0.5 0.5 0.4 0.4 0.5 0.5 0.6 0.4\n",
    })
    dataset_import(project=project, path=path, format="yolo")
    annotation = Annotation.objects.get(kind="keypoints")
    assert annotation.label == label
    assert sum(annotation.geometry["points"], []) == pytest.approx([50.0, 25.0, 2, 60.0, 20.0, 2])


@pytest.mark.parametrize(
    "line, message",
    [
        ("3 0.5 0.5 0.1 0.1", "not one of the 2 classes"),
        ("0 0.5 0.5 0.1", "Expected 'class cx cy w h'"),
        ("0 0.5 zero 0.1 0.1", "not a number"),
        ("0 0.9 0.5 0.4 0.2", "outside the 64x48 image"),
    ],
)
def test_bad_lines_are_refused_with_file_and_line(project, tmp_path, line, message):
    path = write_zip(tmp_path, {
        "data.yaml": "names: [cat, dog]\n",
        "images/a.jpg": jpeg(),
        "labels/a.txt": f"0 0.5 0.5 0.1 0.1\n{line}\n",
    })
    with pytest.raises(ImportRefused) as caught:
        dataset_import(project=project, path=path, format="yolo")
    [problem] = caught.value.report.problems
    assert (problem.file, problem.object) == ("labels/a.txt", "line 2")
    assert message in problem.message
    assert project_counts(project) == (0, 0, 0)


def test_label_file_without_image_and_malformed_yaml(project, tmp_path):
    path = write_zip(tmp_path, {"data.yaml": "names: [cat\n", "images/a.jpg": jpeg(), "labels/a.txt": ""})
    with pytest.raises(ImportRefused, match="not valid YAML"):
        dataset_import(project=project, path=path, format="yolo")
    path = write_zip(tmp_path, {
        "data.yaml": "names: [cat]\n", "images/a.jpg": jpeg(), "labels/a.txt": "", "labels/gone.txt": "0 .5 .5 .1 .1\n",
    })
    with pytest.raises(ImportRefused, match="labels/gone.txt: There is no image"):
        dataset_import(project=project, path=path, format="yolo")
    assert project_counts(project) == (0, 0, 0)


def test_rounding_just_past_the_edge_is_the_edge_but_more_is_refused(project, tmp_path):
    path = write_zip(tmp_path, {
        "data.yaml": "names: [cat]\n", "images/a.jpg": jpeg(64, 48), "labels/a.txt": "0 0.75 0.5 0.5000004 1.0000002\n",
    })
    dataset_import(project=project, path=path, format="yolo")
    geometry = Annotation.objects.get().geometry
    assert geometry == pytest.approx({"x": 32.0, "y": 0.0, "w": 32.0, "h": 48.0}, abs=1e-4)
    assert geometry["x"] + geometry["w"] == 64.0 and geometry["h"] == 48.0
    path = write_zip(tmp_path, {
        "data.yaml": "names: [cat]\n", "images/b.jpg": jpeg(64, 48, seed=5), "labels/b.txt": "0 0.75 0.5 0.51 1.0\n",
    })
    with pytest.raises(ImportRefused, match="outside the 64x48 image"):
        dataset_import(project=project, path=path, format="yolo")


def test_darknet_layout_with_obj_names_and_labels_next_to_images(project, tmp_path):
    # CVAT's "YOLO 1.1": obj.names, obj.data, obj_train_data/<image> with <image>.txt beside it.
    path = write_zip(tmp_path, {
        "obj.names": "cat\ndog\n",
        "obj.data": "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\n",
        "train.txt": "data/obj_train_data/a.jpg\n",
        "obj_train_data/a.jpg": jpeg(seed=1),
        "obj_train_data/a.txt": "1 0.5 0.5 0.5 0.5\n",
    })
    result = dataset_import(project=project, path=path, format="yolo")
    assert result["splits"]["train"] == 1
    assert Annotation.objects.get().label.name == "dog"


def test_ultralytics_coco128_style_split_folders(project, tmp_path):
    path = write_zip(tmp_path, {
        "coco128/data.yaml": "names: {0: person}\n",
        "coco128/images/train2017/a.jpg": jpeg(seed=1),
        "coco128/labels/train2017/a.txt": "0 0.5 0.5 0.5 0.5\n",
    })
    assert dataset_import(project=project, path=path, format="yolo")["splits"]["train"] == 1
