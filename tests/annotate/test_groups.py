"""Instance groups: one object with several geometries (box, mask or polygon, keypoints)."""

from __future__ import annotations

import numpy as np
import pytest

from annotate.geometry import (
    GeometryError,
    groups_renumber,
    mask_to_rle,
    objects_of,
    rle_counts_max_length,
    validate_geometry,
    validate_groups,
)
from annotate.health import project_health
from annotate.models import Annotation
from tests.conftest import annotate, set_split

pytestmark = pytest.mark.django_db


def _mask(width: int = 100, height: int = 80) -> dict:
    array = np.zeros((height, width), dtype=np.uint8)
    array[10:30, 20:50] = 1
    return mask_to_rle(array)


BOX = {"x": 20, "y": 10, "w": 30, "h": 20}
POINTS = {"points": [[25, 15, 2], [40, 15, 2], [0, 0, 0]]}


def test_group_rules_name_the_problem():
    ok = [{"label": 1, "kind": "box", "group": 1}, {"label": 1, "kind": "mask", "group": 1},
          {"label": 1, "kind": "keypoints", "group": 1}, {"label": 2, "kind": "box", "group": 2}]
    assert validate_groups(ok) == {}
    assert "mixes labels" in validate_groups([{"label": 1, "kind": "box", "group": 3}, {"label": 2, "kind": "mask", "group": 3}])[1]
    two_boxes = validate_groups([{"label": 1, "kind": "box", "group": 1}, {"label": 1, "kind": "box", "group": 1}])
    assert list(two_boxes) == [1] and "already has a box" in two_boxes[1]
    outline = validate_groups([{"label": 1, "kind": "mask", "group": 1}, {"label": 1, "kind": "polygon", "group": 1}])
    assert "mask or polygon" in outline[1]
    assert "tag" in validate_groups([{"label": 1, "kind": "tag", "group": 1}])[0]


def test_groups_renumber_to_first_appearance_and_drop_singletons():
    assert groups_renumber([7, None, 9, 7, 9, 4]) == [1, None, 2, 1, 2, None]
    assert groups_renumber([None, None]) == [None, None]


def test_objects_of_puts_each_group_where_its_first_part_is():
    annotations = [
        {"label": "cat", "kind": "box", "geometry": BOX},
        {"label": "face", "kind": "mask", "geometry": _mask(), "group": 1},
        {"label": "dog", "kind": "tag", "geometry": {}},
        {"label": "face", "kind": "keypoints", "geometry": POINTS, "group": 1},
        {"label": "face", "kind": "box", "geometry": BOX, "group": 1},
    ]
    objects = objects_of(annotations)
    assert [o.label for o in objects] == ["cat", "face"]
    face = objects[1]
    assert face.outline["kind"] == "mask" and face.keypoints["kind"] == "keypoints" and face.box["geometry"] == BOX
    assert face.bbox() == (20, 10, 30, 20)
    # Without a box, the object's box is its outline's tight box, else its visible keypoints' extent.
    assert objects_of([annotations[1]])[0].bbox() == (20.0, 10.0, 30.0, 20.0)
    assert objects_of([annotations[3]])[0].bbox() == (25, 15, 15, 0)


def test_put_accepts_groups_and_returns_them_renumbered(api, users, labels, add_images):
    image = add_images(1, width=100, height=80)[0]
    face = labels["face"].pk
    body = {"annotations": [
        {"label": face, "kind": "box", "geometry": BOX, "group": 7},
        {"label": face, "kind": "mask", "geometry": _mask(), "group": 7},
        {"label": face, "kind": "keypoints", "geometry": POINTS, "group": 7},
        {"label": labels["cat"].pk, "kind": "box", "geometry": BOX, "group": 12},  # a group of one: none
        {"label": labels["cat"].pk, "kind": "tag", "geometry": {}},
    ]}
    client = api(users["annotator"])
    response = client.put(f"/api/images/{image.pk}/annotations", body, format="json", HTTP_IF_MATCH='"0"')
    assert response.status_code == 200, response.data
    assert [a["group"] for a in response.data["annotations"]] == [1, 1, 1, None, None]
    again = client.get(f"/api/images/{image.pk}/annotations")
    assert [a["group"] for a in again.data["annotations"]] == [1, 1, 1, None, None]
    assert list(Annotation.objects.filter(image=image).order_by("id").values_list("group", flat=True)) == [1, 1, 1, None, None]


@pytest.mark.parametrize(
    "items, field, words",
    [
        ([("cat", "box", BOX, 1), ("dog", "box", BOX, 1)], "annotations[1].group", "mixes labels"),
        ([("cat", "box", BOX, 1), ("cat", "box", BOX, 1)], "annotations[1].group", "already has a box"),
        ([("cat", "tag", {}, 1)], "annotations[0].group", "tag"),
        ([("cat", "box", BOX, 0)], "annotations[0].group", "positive integer"),
        ([("cat", "box", BOX, "one")], "annotations[0].group", "positive integer"),
    ],
)
def test_put_refuses_broken_groups_and_changes_nothing(api, users, labels, add_images, items, field, words):
    image = add_images(1, width=100, height=80)[0]
    body = {"annotations": [{"label": labels[n].pk, "kind": k, "geometry": g, "group": grp} for n, k, g, grp in items]}
    response = api(users["annotator"]).put(f"/api/images/{image.pk}/annotations", body, format="json", HTTP_IF_MATCH='"0"')
    assert response.status_code == 400
    assert words in str(response.data[field])
    image.refresh_from_db()
    assert image.revision == 0 and not Annotation.objects.filter(image=image).exists()


def test_version_counts_count_objects_not_geometries(project, labels, add_images, build_version):
    images = add_images(2, width=100, height=80)
    annotate(images[0], [(labels["face"], "box", BOX, 1), (labels["face"], "mask", _mask(), 1),
                         (labels["face"], "keypoints", POINTS, 1), (labels["cat"], "box", BOX)])
    annotate(images[1], [(labels["face"], "mask", _mask(), 3), (labels["face"], "box", BOX, 3),
                         (labels["dog"], "tag", {})])
    set_split(images, "train")
    version = build_version(project)
    assert version.status == "ready", version.error
    assert version.counts["objects"]["train"] == {"cat": 1, "dog": 1, "face": 2}
    assert version.counts["kinds"] == {"box": 3, "keypoints": 1, "mask": 2, "tag": 1}
    rows = {row.index: row for row in version.images.order_by("index")}
    # Frozen rows keep the canonical groups; ungrouped parts carry no group key at all.
    assert [a.get("group") for a in rows[0].annotations] == [1, 1, 1, None]
    assert "group" not in rows[0].annotations[3]
    assert [a.get("group") for a in rows[1].annotations] == [1, 1, None]
    assert (rows[0].object_offset, rows[1].object_offset) == (0, 2)


def test_health_counts_objects_and_flags_broken_groups(project, labels, add_images):
    images = add_images(2, width=100, height=80)
    annotate(images[0], [(labels["face"], "box", BOX, 1), (labels["face"], "mask", _mask(), 1)])
    annotate(images[1], [(labels["cat"], "box", BOX), (labels["cat"], "mask", _mask())])
    # Rows written around the rules (by hand in the database): a group mixing labels.
    Annotation.objects.filter(image=images[1]).update(group=1)
    Annotation.objects.filter(image=images[1], kind="mask").update(label=labels["dog"])
    report = project_health(project=project)
    assert report["splits"]["unassigned"]["objects"] == {"face": 1, "cat": 1, "dog": 1}
    broken = report["invalid_annotations"]
    assert broken["count"] == 1 and "mixes labels" in broken["items"][0]["problem"]
    assert broken["items"][0]["image"] == images[1].pk


def test_a_huge_rle_string_is_refused_by_its_length_before_decoding():
    counts = "0" * (19 * 1024 * 1024)
    with pytest.raises(GeometryError, match="characters long"):
        validate_geometry("mask", {"rle": {"size": [51, 67], "counts": counts}}, width=67, height=51)
    # Every real mask of the image fits the bound: the worst case, alternating pixels.
    checker = np.indices((51, 67)).sum(axis=0) % 2
    rle = mask_to_rle(checker)
    assert len(rle["rle"]["counts"]) <= rle_counts_max_length(51 * 67)
    assert validate_geometry("mask", rle, width=67, height=51) == rle
    with pytest.raises(GeometryError, match="runs"):
        validate_geometry("mask", {"rle": {"size": [2, 2], "counts": [1] * 6}}, width=2, height=2)


def test_compressed_rle_strings_are_decoded_exactly_and_malformed_ones_refused():
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    for _ in range(60):  # pycocotools' own strings, including sparse and dense masks and large deltas
        height, width = (int(v) for v in rng.integers(1, 70, 2))
        array = (rng.random((height, width)) < rng.random()).astype(np.uint8)
        if array.sum() == 0:
            array[0, 0] = 1
        counts = mask_utils.encode(np.asfortranarray(array))["counts"].decode()
        geometry = {"rle": {"size": [height, width], "counts": counts}}
        assert validate_geometry("mask", geometry, width=width, height=height) == geometry
    good = _mask()["rle"]["counts"]
    for broken, problem in [
        (good[:-1] + "_", "middle of a number"),  # the last character says "more follows"
        (good[:3] + " " + good[4:], "invalid character"),
        (good + "1", "covers"),  # one more run: more pixels than the image
        (good[:-2], "covers|middle of a number"),  # cut short
        ("0" * 3000, "covers"),  # zero-length runs only
        ("532F", "negative run length"),  # 5, 3, 2, then 3 - 10
    ]:
        with pytest.raises(GeometryError, match=problem):
            validate_geometry("mask", {"rle": {"size": [80, 100], "counts": broken}}, width=100, height=80)
