"""annotate's public services for writing image and annotation rows (other apps use these)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate import uploads
from annotate.imaging import check_image_bytes
from annotate.models import Annotation, Image, Project
from annotate.services import AnnotationRow, StaleRevision, annotations_add_bulk, annotations_replace
from annotate.uploads import ImageEntry, images_create_bulk, images_store_checked, project_images_lock
from tests.conftest import image_bytes


def _entries(n: int, **fields) -> list[ImageEntry]:
    return [
        ImageEntry(sha256=f"{i:064x}", extension="jpg", mime_type="image/jpeg", size_bytes=10 + i, width=10 + i,
                   height=20, phash="0" * 16, original_name=f"n{i}.jpg", **fields)
        for i in range(n)
    ]


def test_images_create_bulk_returns_the_rows_in_order_with_ids(project, users):
    images = images_create_bulk(project=project, entries=_entries(3, source="import", split="val", meta={"k": 1}),
                                user=users["owner"])
    assert [i.width for i in images] == [10, 11, 12] and all(i.pk for i in images)
    rows = {row.pk: row for row in Image.objects.filter(project=project)}
    for image in images:
        row = rows[image.pk]
        assert (row.width, row.source, row.split, row.meta, row.uploaded_by) == (
            image.width, "import", "val", {"k": 1}, users["owner"])
        assert row.file == f"images/{row.sha256[:2]}/{row.sha256}.jpg"
    assert images_create_bulk(project=project, entries=[], user=None) == []


def test_images_create_bulk_sets_ids_where_bulk_inserts_return_none(project, users, add_images, monkeypatch):
    [other] = add_images(1, seed=5)
    same = _entries(2)[0]
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    with CaptureQueriesContext(connection) as queries:
        images = images_create_bulk(project=project, entries=[same, same, *_entries(3)[1:]], user=users["owner"])
    assert any("MAX(" in q["sql"].upper() for q in queries.captured_queries)  # the ids were looked up
    assert len({i.pk for i in images}) == 4 and other.pk not in {i.pk for i in images}
    assert [Image.objects.get(pk=i.pk).width for i in images] == [10, 10, 11, 12]


def test_images_create_bulk_refuses_an_unknown_split(project):
    with pytest.raises(ValueError):
        images_create_bulk(project=project, entries=_entries(1, split="holdout"), user=None)
    assert not Image.objects.filter(project=project).exists()


def test_images_store_checked_deduplicates_by_content(project, users, add_images):
    [first] = add_images(1, seed=1)
    checked = [(f"dir/{n}.jpg", check_image_bytes(image_bytes(seed=s))) for n, s in (("a", 1), ("b", 2), ("c", 2))]
    result = images_store_checked(project=project, checked=checked, user=users["owner"], source="synthetic",
                                  meta={"generator": "test"})
    assert [i.pk for i in result.duplicates] == [first.pk]
    [new] = result.created
    assert (new.original_name, new.source, new.meta) == ("b.jpg", "synthetic", {"generator": "test"})
    assert Image.objects.filter(project=project).count() == 2


def test_the_writers_hold_the_project_lock(project, users, monkeypatch):
    held = []
    real = uploads.project_images_lock

    def spy(*, project):
        held.append(project.pk)
        return real(project=project)

    monkeypatch.setattr(uploads, "project_images_lock", spy)
    images_create_bulk(project=project, entries=_entries(1), user=None)
    images_store_checked(project=project, checked=[("x.jpg", check_image_bytes(image_bytes(seed=9)))], user=None,
                         source="upload")
    assert held and set(held) == {project.pk}


def test_the_project_lock_is_a_transaction_on_the_project_row(project):
    with CaptureQueriesContext(connection) as queries, project_images_lock(project=project):
        assert connection.in_atomic_block
    locking = [q["sql"] for q in queries.captured_queries if Project._meta.db_table in q["sql"]]
    assert len(locking) == 1
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in locking[0]


def test_the_project_lock_rolls_back_on_error(project):
    with pytest.raises(RuntimeError), project_images_lock(project=project):
        images_create_bulk(project=project, entries=_entries(2), user=None)
        raise RuntimeError("later step failed")
    assert not Image.objects.filter(project=project).exists()


def test_annotations_add_bulk_adds_rows_and_bumps_revisions_once(project, users, labels, add_images):
    a, b, c = add_images(3)
    annotations_replace(image=a, expected_revision=0, items=[], user=users["owner"])  # a at revision 1
    rows = [
        AnnotationRow(image_id=image.pk, label_id=labels["cat"].pk, kind="box", geometry={"x": 1.0, "y": 1.0, "w": 5.0, "h": 5.0},
                      source="imported")
        for image in (a, a, b, c)
    ]
    assert annotations_add_bulk(rows=rows, user=users["owner"], bump_revision_of=[a.pk, b.pk, a.pk]) == 4
    revisions = dict(Image.objects.filter(project=project).values_list("id", "revision"))
    assert revisions == {a.pk: 2, b.pk: 1, c.pk: 0}
    stored = list(Annotation.objects.filter(image__project=project))
    assert len(stored) == 4 and sum(1 for s in stored if s.image_id == a.pk) == 2
    assert {(s.source, s.created_by_id, s.kind) for s in stored} == {("imported", users["owner"].pk, "box")}
    assert all(s.attributes == {} for s in stored)
    with pytest.raises(StaleRevision):  # an editor still at the old revision cannot overwrite them
        annotations_replace(image=b, expected_revision=0, items=[], user=users["owner"])
    assert Annotation.objects.filter(image=b).count() == 1


def test_annotations_add_bulk_keeps_existing_annotations(project, labels, add_images):
    [image] = add_images(1)
    box = {"x": 1.0, "y": 1.0, "w": 5.0, "h": 5.0}
    annotations_add_bulk(rows=[AnnotationRow(image.pk, labels["cat"].pk, "box", box)])
    annotations_add_bulk(rows=[AnnotationRow(image.pk, labels["dog"].pk, "tag", {})])
    assert sorted(Annotation.objects.filter(image=image).values_list("kind", flat=True)) == ["box", "tag"]
    assert Image.objects.get(pk=image.pk).revision == 0


def test_bytes_read_again_must_be_the_checked_image():
    from annotate.imaging import ImageRejected
    from annotate.uploads import KeptBytes, bytes_checked_again

    data = image_bytes(seed=21)
    checked = check_image_bytes(data)
    assert bytes_checked_again(data, checked) == checked.data
    with pytest.raises(ImageRejected, match="changed while it was being added"):
        bytes_checked_again(image_bytes(seed=22), checked)
    kept = KeptBytes(budget=len(checked.data))
    assert kept.keep(checked).data == checked.data  # the budget holds exactly one
    assert kept.keep(checked).data == b""
