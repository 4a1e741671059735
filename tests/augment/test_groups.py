"""Augmentation keeps an object's parts together: a mirrored or rotated object's box, mask and
keypoints are still one object, and a box that was its mask's tight box still is."""

import numpy as np

from annotate.geometry import mask_box, mask_to_rle, objects_of
from augment.pipeline import Augmenter, LabelInfo

from .helpers import smooth_image

LABELS = {2: LabelInfo("face", ("left_eye", "right_eye", "nose"))}


def _object(rect=(50, 30, 90, 70), width=160, height=120):
    x0, y0, x1, y1 = rect
    image = smooth_image(width, height)
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    annotations = [
        {"label": 2, "kind": "mask", "geometry": mask_to_rle(mask), "group": 1},
        {"label": 2, "kind": "box", "geometry": {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}, "group": 1},
        {"label": 2, "kind": "keypoints", "group": 1, "geometry": {"points": [
            [x0 + 6.5, y0 + 6.5, 2], [x1 - 6.5, y0 + 6.5, 2], [(x0 + x1) / 2, y1 - 6.5, 2]]}},
        {"label": 2, "kind": "box", "geometry": {"x": 100, "y": 75, "w": 20, "h": 20}},
    ]
    return image, annotations


def test_a_mirrored_object_stays_one_object_with_its_points_swapped():
    image, annotations = _object()
    _, out = Augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1}]}, labels=LABELS)(image, annotations, seed=0)
    assert [a.get("group") for a in out] == [1, 1, 1, None]
    face = objects_of(out)[0]
    assert face.box and face.outline and face.keypoints
    left, right, _ = face.keypoints["geometry"]["points"]
    assert left[0] < right[0]  # left_eye is still on the image's left: the names were swapped
    g = face.box["geometry"]
    assert np.allclose((g["x"], g["y"], g["w"], g["h"]), mask_box(face.outline["geometry"]))


def test_a_rotated_objects_box_stays_the_tight_box_of_its_mask():
    image, annotations = _object()
    spec = {"transforms": [{"name": "Rotate", "params": {"limit": [30, 30]}, "p": 1}]}
    _, out = Augmenter(spec, labels=LABELS)(image, annotations, seed=3)
    face = objects_of(out)[0]
    g = face.box["geometry"]
    assert np.allclose((g["x"], g["y"], g["w"], g["h"]), mask_box(face.outline["geometry"]))
    # An ungrouped box travels as its four corners, as before: rotated, it encloses them.
    lone = objects_of(out)[1].box["geometry"]
    assert lone["w"] > 20 and lone["h"] > 20
