"""Annotations stay exact: a red object drawn in a synthetic image is still covered by its
transformed box, polygon, mask and keypoints after every geometric transform."""

import numpy as np
import pytest

from annotate.geometry import rle_to_mask, validate_geometry
from annotate.keypoints import mirror_pairs
from augment.pipeline import Augmenter, LabelInfo

from .helpers import red_bbox, red_region, scene_with_object

LABELS = {1: LabelInfo("thing"), 2: LabelInfo("face", ("left_eye", "right_eye", "nose"))}

GEOMETRIC = [
    ("HorizontalFlip", {}), ("VerticalFlip", {}), ("Transpose", {}), ("RandomRotate90", {}), ("D4", {}),
    ("Rotate", {"limit": [-40, 40]}), ("SafeRotate", {"limit": [-30, 30]}),
    ("Affine", {"rotate": [-30, 30], "scale": [0.8, 1.3], "translate_px": [-10, 10], "shear": [-10, 10]}),
    ("ShiftScaleRotate", {}), ("Perspective", {"scale": [0.05, 0.12]}),
    ("RandomResizedCrop", {"size": [100, 120], "scale": [0.6, 1.0]}), ("Resize", {"height": 90, "width": 200}),
    ("RandomScale", {"scale_limit": [-0.4, 0.5]}), ("LongestMaxSize", {"max_size": 300}),
    ("CenterCrop", {"height": 100, "width": 120}), ("Pad", {"padding": 12}),
    ("RandomSizedBBoxSafeCrop", {"height": 100, "width": 100}),
    ("OpticalDistortion", {"distort_limit": [-0.3, 0.3]}), ("GridDistortion", {}), ("ElasticTransform", {}),
    ("PiecewiseAffine", {}), ("ThinPlateSpline", {}),
]
# Exact (affine/projective) moves are within rounding; bending warps go through rasters.
TOLERANCE = {"OpticalDistortion": 2.5, "GridDistortion": 2.5, "ElasticTransform": 2.5, "PiecewiseAffine": 3,
             "ThinPlateSpline": 3}


def _by_kind(annotations):
    return {a["kind"]: a for a in annotations}


def _box_edges(a):
    x, y, w, h = a["bbox"]
    return np.array([x, y, x + w, y + h])


@pytest.mark.parametrize("name, params", GEOMETRIC, ids=[g[0] for g in GEOMETRIC])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_annotations_follow_the_object(name, params, seed):
    image, annotations = scene_with_object()
    aug = Augmenter({"transforms": [{"name": name, "params": params, "p": 1}]}, labels=LABELS)
    out, result = aug(image, annotations, seed=seed)
    truth = red_bbox(out)
    assert truth is not None, "the object should stay in frame for these settings"
    truth = np.array(truth, dtype=float)
    tol = TOLERANCE.get(name, 1.5)
    got = _by_kind(result)
    assert set(got) == {"box", "polygon", "mask", "keypoints", "tag"}
    height, width = out.shape[:2]
    for kind in ("polygon", "mask"):
        assert np.abs(_box_edges(got[kind]) - truth).max() <= tol, (kind, got[kind]["bbox"], truth)
    # A box encloses its rotated object: it may grow, never miss any of it.
    box = _box_edges(got["box"])
    assert box[0] <= truth[0] + tol and box[1] <= truth[1] + tol
    assert box[2] >= truth[2] - tol and box[3] >= truth[3] - tol
    if name in ("HorizontalFlip", "VerticalFlip", "Transpose", "RandomRotate90", "D4", "Resize", "CenterCrop", "Pad"):
        assert np.abs(box - truth).max() <= tol
    # The mask covers the red pixels.
    mask = rle_to_mask(got["mask"]["geometry"]).astype(bool)
    red = red_region(out)
    assert mask.shape == (height, width)
    assert (mask & red).sum() >= 0.9 * red.sum()
    # Keypoints keep their count and still sit on the object.
    points = got["keypoints"]["geometry"]["points"]
    assert len(points) == 3
    for x, y, v in points:
        assert v in (1, 2)
        ix, iy = min(int(x), width - 1), min(int(y), height - 1)
        window = red[max(iy - 2, 0):iy + 3, max(ix - 2, 0):ix + 3]
        assert window.any(), (name, x, y)
    # Everything that comes out is valid stored geometry for the new image size.
    for a in result:
        if a["kind"] != "keypoints":
            validate_geometry(a["kind"], a["geometry"], width=width, height=height)
        else:
            validate_geometry("keypoints", a["geometry"], width=width, height=height, keypoint_names=["a", "b", "c"])


def test_horizontal_flip_swaps_left_and_right_keypoints():
    image, annotations = scene_with_object()
    out, result = Augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1}]}, labels=LABELS)(
        image, annotations, seed=0)
    left, right, nose = _by_kind(result)["keypoints"]["geometry"]["points"]
    # After the swap, "left_eye" is again the one on the image's left, at the mirrored right eye's place.
    assert left[0] < right[0]
    assert left[0] == pytest.approx(160 - (90 - 6.5))
    assert right[0] == pytest.approx(160 - (50 + 6.5))
    assert nose[2] == 1  # visibility is kept


@pytest.mark.parametrize("name, mirrored", [("VerticalFlip", True), ("Transpose", True), ("RandomRotate90", False)])
def test_any_mirror_swaps_pairs_and_rotations_do_not(name, mirrored):
    image, annotations = scene_with_object()
    plain = Augmenter({"transforms": [{"name": name, "p": 1}]})  # no label info: no pairs, no swap
    swapped = Augmenter({"transforms": [{"name": name, "p": 1}]}, labels=LABELS)
    a = _by_kind(plain(image, annotations, seed=3)[1])["keypoints"]["geometry"]["points"]
    b = _by_kind(swapped(image, annotations, seed=3)[1])["keypoints"]["geometry"]["points"]
    if mirrored:
        assert b[0] == a[1] and b[1] == a[0]
    else:
        assert b == a


def test_two_flips_cancel_and_do_not_swap():
    image, annotations = scene_with_object()
    spec = {"transforms": [{"name": "HorizontalFlip", "p": 1}, {"name": "HorizontalFlip", "p": 1}]}
    out, result = Augmenter(spec, labels=LABELS)(image, annotations, seed=0)
    assert np.array_equal(out, image)
    assert _by_kind(result)["keypoints"]["geometry"]["points"] == _by_kind(annotations)["keypoints"]["geometry"]["points"]


def test_flip_pairs_from_the_recipe_override_the_names():
    image, annotations = scene_with_object()
    spec = {"transforms": [{"name": "HorizontalFlip", "p": 1}], "flip_pairs": {"face": []}}
    plain = _by_kind(Augmenter({"transforms": spec["transforms"]})(image, annotations, seed=0)[1])
    result = _by_kind(Augmenter(spec, labels=LABELS)(image, annotations, seed=0)[1])
    assert result["keypoints"]["geometry"] == plain["keypoints"]["geometry"]  # no swap: pairs emptied
    spec["flip_pairs"] = {"face": [["right_eye", "nose"]]}
    result = _by_kind(Augmenter(spec, labels=LABELS)(image, annotations, seed=0)[1])
    p = plain["keypoints"]["geometry"]["points"]
    assert result["keypoints"]["geometry"]["points"] == [p[0], p[2], p[1]]


def test_derived_flip_pairs():
    assert mirror_pairs(["left_eye", "right_eye", "nose"]) == [(0, 1)]
    assert mirror_pairs(["snout", "leftear", "rightear", "tailbase"]) == [(1, 2)]
    assert mirror_pairs(["LeftHand", "RightHand", "left_knee"]) == [(0, 1)]


def test_keypoints_pushed_out_of_frame_keep_their_place_with_v0():
    image, annotations = scene_with_object()
    # Shift everything 95 px right in a 160 px frame: the left eye (x 56.5) stays, the rest leaves.
    spec = {"transforms": [{"name": "Affine", "params": {"translate_px": {"x": [95, 95], "y": [0, 0]}}, "p": 1}]}
    out, result = Augmenter(spec, labels=LABELS)(image, annotations, seed=0)
    points = _by_kind(result)["keypoints"]["geometry"]["points"]
    assert len(points) == 3
    assert points[0][0] == pytest.approx(56.5 + 95) and points[0][2] == 2
    assert points[1] == [0.0, 0.0, 0]  # 83.5 + 95 > 160
    assert points[2] == [0.0, 0.0, 0]  # 70 + 95 > 160
    got = _by_kind(result)
    # The box, polygon and mask are clipped to what is left in frame.
    assert got["box"]["geometry"]["x"] + got["box"]["geometry"]["w"] == pytest.approx(160)
    assert got["polygon"]["bbox"][0] == pytest.approx(145)
    assert got["polygon"]["bbox"][2] == pytest.approx(15)


def test_objects_leaving_the_frame_are_dropped_but_keypoints_are_not():
    image, annotations = scene_with_object()
    spec = {"transforms": [{"name": "Affine", "params": {"translate_px": {"x": [150, 150], "y": [0, 0]}}, "p": 1}]}
    out, result = Augmenter(spec, labels=LABELS)(image, annotations, seed=0)
    kinds = [a["kind"] for a in result]
    assert "box" not in kinds and "polygon" not in kinds and "mask" not in kinds
    kp = _by_kind(result)["keypoints"]["geometry"]["points"]
    assert kp == [[0.0, 0.0, 0]] * 3
    assert "tag" in kinds


def test_unlabelled_keypoints_stay_unlabelled():
    image, annotations = scene_with_object()
    annotations[3]["geometry"]["points"][2] = [0, 0, 0]
    out, result = Augmenter({"transforms": [{"name": "VerticalFlip", "p": 1}]}, labels=LABELS)(image, annotations, seed=0)
    assert _by_kind(result)["keypoints"]["geometry"]["points"][2] == [0.0, 0.0, 0]


def test_seeds_reproduce_and_differ():
    image, annotations = scene_with_object()
    spec = {"transforms": [{"name": "Affine", "params": {"rotate": [-30, 30]}, "p": 1},
                           {"name": "PoissonGaussianNoise", "p": 1}, {"name": "HorizontalFlip"}]}
    aug = Augmenter(spec, labels=LABELS)
    a_img, a_ann = aug(image, annotations, seed=11)
    b_img, b_ann = Augmenter(spec, labels=LABELS)(image, annotations, seed=11)
    aug(image, annotations, seed=99)  # another draw in between changes nothing for seed 11
    c_img, c_ann = aug(image, annotations, seed=11)
    d_img, d_ann = aug(image, annotations, seed=12)
    assert np.array_equal(a_img, b_img) and a_ann == b_ann
    assert np.array_equal(a_img, c_img) and a_ann == c_ann
    assert not np.array_equal(a_img, d_img)


def test_other_keys_pass_through_and_order_is_kept():
    image, annotations = scene_with_object()
    annotations[0]["attributes"] = {"occluded": True}
    out, result = Augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1}]}, labels=LABELS)(
        image, annotations, seed=0)
    assert [a["id"] for a in result] == [1, 2, 3, 4, 5]
    assert result[0]["attributes"] == {"occluded": True}
    assert annotations[0]["geometry"] == {"x": 50, "y": 30, "w": 40, "h": 40}  # the input is not modified


def test_polygon_with_several_parts_and_partial_exit():
    image, annotations = scene_with_object()
    poly = {"id": 9, "label": 1, "kind": "polygon",
            "geometry": {"polygons": [[5, 5, 25, 5, 25, 25, 5, 25], [130, 90, 150, 90, 150, 110, 130, 110]]}}
    spec = {"transforms": [{"name": "Affine", "params": {"translate_px": {"x": [-15, -15], "y": [0, 0]}}, "p": 1}]}
    out, result = Augmenter(spec)(image, [poly], seed=0)
    parts = result[0]["geometry"]["polygons"]
    assert len(parts) == 2
    xs = parts[0][0::2]
    assert min(xs) == pytest.approx(0) and max(xs) == pytest.approx(10)
