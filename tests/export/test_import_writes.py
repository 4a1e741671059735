"""The import writes its rows through annotate's services: under the project lock, in bulk,
with the right image for every annotation even where bulk inserts return no ids."""

import pytest
from django.db import connection

from annotate import uploads
from annotate.models import Annotation, Image
from export import dataset_import as importer
from tests.export.import_fixtures import coco_box, coco_image, coco_json, jpeg, write_zip

pytestmark = pytest.mark.django_db


def _coco_with_twins(tmp_path):
    """a.jpg and b.jpg are the same bytes with different boxes; c.jpg is another picture."""
    same = jpeg(seed=1)
    return write_zip(tmp_path, {
        "annotations/instances_train.json": coco_json(
            [coco_image(1, "a.jpg"), coco_image(2, "b.jpg"), coco_image(3, "c.jpg")],
            [coco_box(1, 1, 7, [1, 1, 10, 10]), coco_box(2, 2, 7, [2, 2, 10, 10]), coco_box(3, 2, 7, [3, 3, 10, 10]),
             coco_box(4, 3, 7, [4, 4, 10, 10])],
            [{"id": 7, "name": "cat"}],
        ),
        "images/a.jpg": same, "images/b.jpg": same, "images/c.jpg": jpeg(seed=2),
    })


def _boxes_by_name(project) -> dict[str, list[float]]:
    return {
        image.original_name: sorted(a.geometry["x"] for a in image.annotations.all())
        for image in Image.objects.filter(project=project).prefetch_related("annotations")
    }


@pytest.mark.parametrize("returns_ids", [True, False])
def test_every_annotation_lands_on_its_image(project, tmp_path, monkeypatch, returns_ids):
    if not returns_ids:
        monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    result = importer.dataset_import(project=project, path=_coco_with_twins(tmp_path), format="coco")
    assert result["images_created"] == 3 and result["annotations_created"] == 4
    assert _boxes_by_name(project) == {"a.jpg": [1.0], "b.jpg": [2.0, 3.0], "c.jpg": [4.0]}
    assert set(Annotation.objects.filter(image__project=project).values_list("source", flat=True)) == {"imported"}


def test_the_import_holds_the_project_lock_while_it_matches_and_writes(project, tmp_path, monkeypatch):
    events = []
    real = uploads.project_images_lock

    class Spy:
        def __init__(self, *, project):
            self.inner = real(project=project)
            self.project = project

        def __enter__(self):
            events.append(("lock", self.project.pk))
            return self.inner.__enter__()

        def __exit__(self, *exc):
            events.append(("unlock", self.project.pk))
            return self.inner.__exit__(*exc)

    monkeypatch.setattr(importer, "project_images_lock", Spy)
    real_existing = importer._existing_images
    monkeypatch.setattr(importer, "_existing_images", lambda *a: events.append(("match",)) or real_existing(*a))
    importer.dataset_import(project=project, path=_coco_with_twins(tmp_path), format="coco")
    assert events == [("lock", project.pk), ("match",), ("unlock", project.pk)]


def test_an_existing_image_getting_annotations_has_its_revision_bumped(project, add_images, tmp_path):
    [uploaded] = add_images(1, seed=2)  # the bytes of c.jpg
    importer.dataset_import(project=project, path=_coco_with_twins(tmp_path), format="coco")
    uploaded.refresh_from_db()
    assert uploaded.revision == 1 and uploaded.annotations.count() == 1


def test_images_beyond_the_memory_budget_are_read_again_and_stored_the_same(project, tmp_path, monkeypatch):
    """With no checked bytes kept in memory, every image is read from the archive again when it is
    stored (and checked to be the same image): the files and boxes are those of a normal import."""
    from annotate import storage
    from annotate.imaging import check_image_bytes

    monkeypatch.setattr(importer, "KEEP_IMAGE_BYTES", 0)
    importer.dataset_import(project=project, path=_coco_with_twins(tmp_path), format="coco")
    assert _boxes_by_name(project) == {"a.jpg": [1.0], "b.jpg": [2.0, 3.0], "c.jpg": [4.0]}
    for image in Image.objects.filter(project=project):
        expected = check_image_bytes(jpeg(seed=2 if image.original_name == "c.jpg" else 1)).data
        assert storage.media_path(str(image.file)).read_bytes() == expected, image.original_name
