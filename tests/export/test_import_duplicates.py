"""Byte-identical files: one project image per dataset entry on import, one per content on upload,
stored once either way, kept apart by every export and flagged by the health report."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate import services as annotate_services
from annotate import storage
from annotate.health import project_health
from annotate.models import Annotation, Image
from export import services
from export.dataset_import import dataset_import
from tests.export.import_fixtures import coco_box, coco_image, coco_json, jpeg, project_counts, voc_xml, write_zip

pytestmark = pytest.mark.django_db


def _twin_voc(tmp_path, *, b_split: str = "val"):
    """A VOC zip whose a.jpg and b.jpg are the same bytes, labelled differently; c.jpg is another picture."""
    same = jpeg(seed=1)
    splits = {"train": ["a", "c"], "val": [], "test": []}
    splits[b_split].append("b")
    members = {
        "VOC/Annotations/a.xml": voc_xml("a.jpg", [("cat", (5, 5, 30, 20))]),
        "VOC/Annotations/b.xml": voc_xml("b.jpg", [("dog", (1, 2, 11, 12)), ("dog", (40, 25, 60, 40))]),
        "VOC/Annotations/c.xml": voc_xml("c.jpg", [("cat", (2, 2, 20, 20))]),
        "VOC/JPEGImages/a.jpg": same,
        "VOC/JPEGImages/b.jpg": same,
        "VOC/JPEGImages/c.jpg": jpeg(seed=2),
    }
    for split, stems in splits.items():
        if stems:
            members[f"VOC/ImageSets/Main/{split}.txt"] = "\n".join(stems) + "\n"
    return write_zip(tmp_path, members)


def _boxes(image: Image) -> list[tuple]:
    return sorted((a.label.name, a.geometry["x"], a.geometry["y"]) for a in image.annotations.all())


def test_identical_files_in_a_dataset_are_separate_images_sharing_one_file(project, tmp_path):
    path = _twin_voc(tmp_path)
    result = dataset_import(project=project, path=path, format="voc")

    assert result["images_created"] == 3 and result["image_files"] == 3
    assert result["annotations_by_kind"] == {"box": 4}
    assert result["duplicate_files"] == 1
    assert result["duplicate_file_pairs"] == [{"file": "JPEGImages/b.jpg", "same_as": "JPEGImages/a.jpg"}]
    a, b = Image.objects.get(original_name="a.jpg"), Image.objects.get(original_name="b.jpg")
    assert a.pk != b.pk and a.sha256 == b.sha256 and a.file == b.file
    assert (a.split, b.split) == ("train", "val")
    assert _boxes(a) == [("cat", 5.0, 5.0)]
    assert _boxes(b) == [("dog", 1.0, 2.0), ("dog", 40.0, 25.0)]
    assert a.meta["import_path"].endswith("a.jpg") and b.meta["import_path"].endswith("b.jpg")
    assert storage.media_path(a.file).read_bytes() == jpeg(seed=1)
    stored = list(storage.media_path(a.file).parent.glob(f"{a.sha256}*"))
    assert len(stored) == 1  # the content is stored once

    # Re-importing the same dataset adds nothing: each entry is found by its bytes and its path.
    again = dataset_import(project=project, path=path, format="voc")
    assert (again["images_created"], again["annotations_created"], again["images_existing"]) == (0, 0, 3)
    assert again["images_existing_already_annotated"] == 3
    assert project_counts(project) == (3, 2, 4)


def test_an_uploaded_image_stands_for_one_identical_entry(project, add_images, tmp_path):
    [uploaded] = add_images(1, seed=1)  # the same bytes as the dataset's a.jpg and b.jpg
    doc = coco_json(
        [coco_image(1, "a.jpg"), coco_image(2, "b.jpg")],
        [coco_box(1, 1, 1, [1, 1, 5, 5]), coco_box(2, 2, 1, [2, 2, 6, 6]), coco_box(3, 2, 1, [20, 20, 6, 6])],
        [{"id": 1, "name": "cat"}],
    )
    path = write_zip(tmp_path, {"train.json": doc, "a.jpg": jpeg(seed=1), "b.jpg": jpeg(seed=1)})
    result = dataset_import(project=project, path=path, format="coco")

    assert (result["images_created"], result["images_existing"], result["duplicate_files"]) == (1, 1, 1)
    uploaded.refresh_from_db()
    assert uploaded.revision == 1 and "import_path" not in uploaded.meta
    assert _boxes(uploaded) == [("cat", 1.0, 1.0)]  # it had none, so it takes the first entry's
    [new] = Image.objects.filter(project=project).exclude(pk=uploaded.pk)
    assert new.sha256 == uploaded.sha256 and new.meta["import_path"] == "b.jpg"
    assert _boxes(new) == [("cat", 2.0, 2.0), ("cat", 20.0, 20.0)]

    again = dataset_import(project=project, path=path, format="coco")
    assert (again["images_created"], again["annotations_created"], again["images_existing"]) == (0, 0, 2)
    assert project_counts(project) == (2, 1, 3)


def test_the_same_file_at_another_dataset_path_is_another_image(project, tmp_path):
    first = write_zip(tmp_path, {"cat/a.jpg": jpeg(seed=1), "dog/d.jpg": jpeg(seed=5)}, name="first.zip")
    second = write_zip(tmp_path, {"cat/renamed.jpg": jpeg(seed=1), "dog/d.jpg": jpeg(seed=5)}, name="second.zip")
    assert dataset_import(project=project, path=first, format="imagefolder")["images_created"] == 2
    again = dataset_import(project=project, path=second, format="imagefolder")
    assert (again["images_created"], again["images_existing"]) == (1, 1)
    assert Image.objects.filter(project=project).values("sha256").distinct().count() == 2
    assert Image.objects.filter(project=project).count() == 3


def test_an_image_folder_file_in_two_class_folders_is_one_image_of_two_classes(project, tmp_path):
    path = write_zip(tmp_path, {
        "train/cat/x.jpg": jpeg(seed=1), "train/dog/x.jpg": jpeg(seed=1),  # one picture, two classes
        "train/cat/y.jpg": jpeg(seed=1),  # the same bytes under another name: another entry
        "val/dog/x.jpg": jpeg(seed=1),  # ... or in another split
    })
    result = dataset_import(project=project, path=path, format="imagefolder")
    assert result["images_created"] == 3 and result["duplicate_files"] == 2
    tags = {
        (image.split, image.original_name): sorted(image.annotations.values_list("label__name", flat=True))
        for image in Image.objects.filter(project=project)
    }
    assert tags == {("train", "x.jpg"): ["cat", "dog"], ("train", "y.jpg"): ["cat"], ("val", "x.jpg"): ["dog"]}


def test_uploading_bytes_the_project_holds_twice_is_a_duplicate_of_the_oldest(api, users, project, tmp_path):
    dataset_import(project=project, path=_twin_voc(tmp_path), format="voc")
    a = Image.objects.get(original_name="a.jpg")
    response = api(users["annotator"]).post(
        f"/api/projects/{project.pk}/images/",
        {"files": [SimpleUploadedFile("again.jpg", jpeg(seed=1), content_type="image/jpeg")]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == [] and [d["id"] for d in response.json()["duplicates"]] == [a.pk]
    assert Image.objects.filter(project=project).count() == 3


def test_deleting_one_of_two_images_sharing_a_file_keeps_the_file(
    project, users, tmp_path, django_capture_on_commit_callbacks
):
    dataset_import(project=project, path=_twin_voc(tmp_path), format="voc")
    a, b = Image.objects.get(original_name="a.jpg"), Image.objects.get(original_name="b.jpg")
    file = storage.media_path(a.file)
    with django_capture_on_commit_callbacks(execute=True):
        annotate_services.image_delete(image=a)
    assert file.exists() and Image.objects.filter(pk=b.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        annotate_services.image_delete(image=b)
    assert not file.exists()


def test_deleting_a_project_keeps_files_another_project_uses(project, users, tmp_path, django_capture_on_commit_callbacks):
    other = annotate_services.project_create(name="Other", created_by=users["owner"])
    dataset_import(project=project, path=_twin_voc(tmp_path), format="voc")
    other_dataset = write_zip(tmp_path, {"cat/a.jpg": jpeg(seed=1), "dog/d.jpg": jpeg(seed=5)}, name="o.zip")
    dataset_import(project=other, path=other_dataset, format="imagefolder")
    shared = storage.media_path(Image.objects.filter(project=project).first().file)
    only_here = storage.media_path(Image.objects.get(project=project, original_name="c.jpg").file)
    with django_capture_on_commit_callbacks(execute=True):
        annotate_services.project_delete(project=project)
    assert shared.exists() and not only_here.exists()
    with django_capture_on_commit_callbacks(execute=True):
        annotate_services.project_delete(project=other)
    assert not shared.exists()


def test_identical_imported_images_in_different_splits_are_a_split_leak_at_distance_0(project, tmp_path):
    dataset_import(project=project, path=_twin_voc(tmp_path, b_split="test"), format="voc")
    a, b = Image.objects.get(original_name="a.jpg"), Image.objects.get(original_name="b.jpg")
    leaks = project_health(project=project)["split_leaks"]
    assert leaks["count"] == 1
    [pair] = leaks["pairs"]
    assert sorted(pair["images"]) == sorted([a.pk, b.pk]) and pair["distance"] == 0
    assert sorted(pair["splits"]) == ["test", "train"]


def test_identical_imported_images_in_one_split_are_no_leak(project, tmp_path):
    dataset_import(project=project, path=_twin_voc(tmp_path, b_split="train"), format="voc")
    assert project_health(project=project)["split_leaks"]["count"] == 0


# --- exports of a version holding both ------------------------------------------------------
@pytest.fixture
def twin_version(project, tmp_path, build_version):
    dataset_import(project=project, path=_twin_voc(tmp_path, b_split="train"), format="voc")
    version = build_version(project)
    assert version.image_count == 3 and version.annotation_count == 4
    return version


def test_every_export_keeps_identical_images_apart(twin_version, export_zip, tmp_path):
    coco = export_zip(twin_version, "coco")
    doc = json.loads(coco.read("annotations/instances_train.json"))
    names = {image["id"]: image["file_name"] for image in doc["images"]}
    per_image = {names[i]: sum(1 for a in doc["annotations"] if a["image_id"] == i) for i in names}
    assert per_image == {"a.jpg": 1, "b.jpg": 2, "c.jpg": 1}
    assert coco.read("images/train/a.jpg") == coco.read("images/train/b.jpg") == jpeg(seed=1)

    yolo = export_zip(twin_version, "yolo")
    lines = {n: yolo.read(n).decode().split("\n") for n in yolo.namelist() if n.startswith("labels/train/")}
    assert {n.rsplit("/", 1)[-1]: len([x for x in v if x]) for n, v in lines.items()} == {"a.txt": 1, "b.txt": 2, "c.txt": 1}
    assert yaml.safe_load(yolo.read("data.yaml"))["names"] == {0: "cat", 1: "dog"}
    assert yolo.read("images/train/a.jpg") == yolo.read("images/train/b.jpg")

    voc = export_zip(twin_version, "voc")
    objects = {stem: [o.findtext("name") for o in ElementTree.fromstring(voc.read(f"Annotations/{stem}.xml")).findall("object")]
               for stem in ("a", "b")}
    assert objects == {"a": ["cat"], "b": ["dog", "dog"]}
    assert {"JPEGImages/a.jpg", "JPEGImages/b.jpg"} <= set(voc.namelist())

    folder = export_zip(twin_version, "imagefolder")
    listed = list(csv.DictReader(io.StringIO(folder.read("labels.csv").decode())))
    assert sorted((r["class"], r["path"]) for r in listed) == [
        ("cat", "train/cat/a.jpg"), ("cat", "train/cat/c.jpg"), ("dog", "train/dog/b.jpg"),
    ]
    assert folder.read("train/cat/a.jpg") == folder.read("train/dog/b.jpg")

    rows = list(csv.DictReader(io.StringIO(export_zip(twin_version, "csv").read("annotations.csv").decode())))
    by_image = sorted((r["image"], r["label"]) for r in rows)
    assert by_image == [("a.jpg", "cat"), ("b.jpg", "dog"), ("b.jpg", "dog"), ("c.jpg", "cat")]


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_identical_images_come_back_from_an_export_as_two_images(twin_version, users, tmp_path, fmt):
    path = tmp_path / f"{fmt}.zip"
    path.write_bytes(b"".join(services.export_chunks(version=twin_version, fmt=fmt, with_images=True)))
    target = annotate_services.project_create(name=f"again {fmt}", created_by=users["owner"])
    result = dataset_import(project=target, path=path, format=fmt)
    assert result["images_created"] == 3 and result["duplicate_files"] == 1
    counts = {image.original_name: image.annotations.count() for image in Image.objects.filter(project=target)}
    assert counts == {"a.jpg": 1, "b.jpg": 2, "c.jpg": 1}
    assert Annotation.objects.filter(image__project=target, label__name="dog").count() == 2


@pytest.mark.slow
def test_tfrecord_keeps_identical_images_apart(twin_version, export_zip, tmp_path):
    import tensorflow as tf

    archive = export_zip(twin_version, "tfrecord")
    records = []
    for name in archive.namelist():
        if ".tfrecord-" in name and name.startswith("train/"):
            file = tmp_path / name.replace("/", "_")
            file.write_bytes(archive.read(name))
            records += [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(file))]
    features = {r.features.feature["image/filename"].bytes_list.value[0].decode(): r.features.feature for r in records}
    assert sorted(features) == ["a.jpg", "b.jpg", "c.jpg"]
    assert list(features["a.jpg"]["image/object/class/text"].bytes_list.value) == [b"cat"]
    assert list(features["b.jpg"]["image/object/class/text"].bytes_list.value) == [b"dog", b"dog"]
    assert features["a.jpg"]["image/encoded"].bytes_list.value[0] == features["b.jpg"]["image/encoded"].bytes_list.value[0]
