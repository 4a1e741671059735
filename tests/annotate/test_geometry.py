import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate.geometry import GeometryError, bounding_box, mask_box, mask_to_rle, rle_to_mask, validate_geometry

W, H = 100, 80
KP = ["left_eye", "right_eye", "nose"]


def check(kind, geometry, **kw):
    return validate_geometry(kind, geometry, width=W, height=H, keypoint_names=kw.get("names", KP))


def test_box_is_cleaned_to_floats():
    assert check("box", {"x": 1, "y": 2, "w": 10, "h": 20}) == {"x": 1.0, "y": 2.0, "w": 10.0, "h": 20.0}


def test_box_touching_the_far_edges_is_inside():
    assert check("box", {"x": 0, "y": 0, "w": W, "h": H})["w"] == W


@pytest.mark.parametrize(
    "geometry, message",
    [
        ({"x": math.nan, "y": 0, "w": 1, "h": 1}, "finite"),
        ({"x": 0, "y": math.inf, "w": 1, "h": 1}, "finite"),
        ({"x": 95, "y": 0, "w": 10, "h": 10}, "outside"),
        ({"x": -1, "y": 0, "w": 10, "h": 10}, "outside"),
        ({"x": 0, "y": 0, "w": 0, "h": 10}, "positive"),
        ({"x": 0, "y": 0, "w": 5}, "missing h"),
        ({"x": "1", "y": 0, "w": 5, "h": 5}, "must be a number"),
        ({"x": True, "y": 0, "w": 5, "h": 5}, "must be a number"),
    ],
)
def test_bad_boxes_are_refused_with_a_reason(geometry, message):
    with pytest.raises(GeometryError, match=message):
        check("box", geometry)


def test_polygon_with_two_parts():
    geometry = {"polygons": [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30, 20, 30]]}
    assert len(check("polygon", geometry)["polygons"]) == 2


@pytest.mark.parametrize(
    "geometry, message",
    [
        ({"polygons": [[0, 0, 10, 0]]}, "at least 3"),
        ({"polygons": [[0, 0, 10, 0, 10]]}, "pairs"),
        ({"polygons": []}, "list of parts"),
        ({"polygons": [[0, 0, 10, 0, 200, 10]]}, "outside"),
        ({"polygons": [[0, 0, 10, 0, math.nan, 10]]}, "finite"),
    ],
)
def test_bad_polygons(geometry, message):
    with pytest.raises(GeometryError, match=message):
        check("polygon", geometry)


def test_mask_round_trips_exactly():
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:30, 40:77] = 1
    mask[50, 5] = 1
    geometry = check("mask", mask_to_rle(mask))
    assert np.array_equal(rle_to_mask(geometry), mask)
    assert bounding_box("mask", geometry) == (5.0, 10.0, 72.0, 41.0)


def test_uncompressed_rle_is_compressed():
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[0:5, 0:5] = 1
    counts = []
    flat = mask.flatten(order="F")
    value, run = 0, 0
    for px in flat:
        if px != value:
            counts.append(run)
            value, run = px, 0
        run += 1
    counts.append(run)
    geometry = check("mask", {"rle": {"size": [H, W], "counts": counts}})
    assert isinstance(geometry["rle"]["counts"], str)
    assert np.array_equal(rle_to_mask(geometry), mask)


@pytest.mark.parametrize(
    "rle, message",
    [
        ({"size": [H, W], "counts": "\x01\x02garbage"}, "invalid character"),
        ({"size": [H, W], "counts": "1111"}, "covers"),  # runs that do not add up to the image
        ({"size": [H + 1, W], "counts": "abc"}, "does not match"),
        ({"size": [H, W], "counts": [1, 2, 3]}, "covers"),
        ({"size": [H, W], "counts": 5}, "string"),
        ({"size": "big"}, "needs 'rle'"),
    ],
)
def test_undecodable_rle_is_refused(rle, message):
    with pytest.raises(GeometryError, match=message):
        check("mask", {"rle": rle})


def test_empty_mask_is_refused():
    with pytest.raises(GeometryError, match="empty"):
        check("mask", mask_to_rle(np.zeros((H, W), dtype=np.uint8)))


def test_rle_from_pycocotools_is_accepted():
    mask = np.zeros((H, W), dtype=np.uint8, order="F")
    mask[3:9, 3:9] = 1
    rle = mask_utils.encode(mask)
    geometry = check("mask", {"rle": {"size": list(rle["size"]), "counts": rle["counts"].decode()}})
    assert int(rle_to_mask(geometry).sum()) == 36


def test_keypoints_with_hidden_and_unlabelled_points():
    geometry = check("keypoints", {"points": [[10, 10, 2], [20, 10, 1], [999, 999, 0]]})
    assert geometry["points"] == [[10.0, 10.0, 2], [20.0, 10.0, 1], [0.0, 0.0, 0]]
    assert bounding_box("keypoints", geometry) == (10.0, 10.0, 10.0, 0.0)


@pytest.mark.parametrize(
    "points, message",
    [
        ([[10, 10, 2], [20, 10, 2]], "has 3 keypoints"),
        ([[10, 10, 2], [20, 10, 2], [30, 10, 3]], "visibility"),
        ([[10, 10, 2], [20, 10, 2], [300, 10, 2]], "outside"),
        ([[10, 10, 2], [20, 10, 2], [math.nan, 10, 2]], "finite"),
        ([[10, 10], [20, 10, 2], [30, 10, 2]], r"\[x, y, v\]"),
    ],
)
def test_bad_keypoints(points, message):
    with pytest.raises(GeometryError, match=message):
        check("keypoints", {"points": points})


def test_keypoints_need_a_keypoint_label():
    with pytest.raises(GeometryError, match="no keypoint names"):
        check("keypoints", {"points": []}, names=[])


def test_tag_and_unknown_kind():
    assert check("tag", {}) == {}
    with pytest.raises(GeometryError, match="Unknown annotation kind"):
        check("circle", {})


# --- mask -> box ----------------------------------------------------------------------------
def test_mask_box_is_the_tight_box_of_whole_pixels():
    mask = np.zeros((H, W), dtype=bool)
    mask[10:20, 30:35] = True
    mask[40, 60] = True
    assert mask_box(mask) == (30.0, 10.0, 31.0, 31.0)
    single = np.zeros((H, W), dtype=np.uint8)
    single[4, 3] = 1
    assert mask_box(single) == (3.0, 4.0, 1.0, 1.0)
    full = np.ones((H, W), dtype=bool)
    assert mask_box(full) == (0.0, 0.0, float(W), float(H))


def test_mask_box_of_an_array_and_of_its_rle_agree():
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = np.zeros((H, W), dtype=np.uint8)
        x, y = rng.integers(0, W - 1), rng.integers(0, H - 1)
        mask[y:y + rng.integers(1, 30), x:x + rng.integers(1, 30)] = 1
        geometry = mask_to_rle(mask)
        assert mask_box(mask) == mask_box(geometry) == bounding_box("mask", geometry)
        assert all(isinstance(v, float) for v in mask_box(mask))


def test_mask_box_of_an_empty_mask_is_none():
    empty = np.zeros((H, W), dtype=bool)
    assert mask_box(empty) is None
    assert mask_box(mask_to_rle(empty)) is None
