"""Real, human-annotated data through the device profiles and geometric recipes: COCO polygons,
crowd RLE masks and boxes (coco128), and mouse keypoints with left/right ears (DeepLabCut)."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotate.geometry import rle_to_mask, validate_geometry
from augment.offline import read_image
from augment.pipeline import Augmenter, LabelInfo
from augment.profiles import PROFILES
from tests.conftest import REAL_DATA

pytestmark = pytest.mark.realdata

GEOMETRIC = {"transforms": [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "Affine", "params": {"rotate": [-25, 25], "scale": [0.8, 1.2], "translate_percent": [-0.1, 0.1]}, "p": 1},
    {"name": "Perspective", "params": {"scale": [0.02, 0.06]}, "p": 0.5},
]}


def coco128(n=6):
    root = REAL_DATA / "coco128-instances"
    data = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    by_image = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    picked = [img for img in data["images"] if img["id"] in by_image][:n]
    crowd = next(img for img in data["images"] if any(a["iscrowd"] for a in by_image.get(img["id"], [])))
    if crowd not in picked:
        picked.append(crowd)
    for img in picked:
        h, w = img["height"], img["width"]
        annotations = []
        for ann in by_image[img["id"]]:
            x, y, bw, bh = ann["bbox"]
            if bw > 0 and bh > 0:
                annotations.append({"label": ann["category_id"], "kind": "box",
                                    "geometry": validate_geometry("box", {"x": x, "y": y, "w": bw, "h": bh},
                                                                  width=w, height=h)})
            seg = ann["segmentation"]
            if ann["iscrowd"]:
                rle = mask_utils.frPyObjects(seg, h, w)
                annotations.append({"label": ann["category_id"], "kind": "mask",
                                    "geometry": {"rle": {"size": [h, w], "counts": rle["counts"].decode("ascii")
                                                         if isinstance(rle["counts"], bytes) else rle["counts"]}}})
            else:
                parts = [p for p in seg if len(p) >= 6]
                if parts:
                    annotations.append({"label": ann["category_id"], "kind": "polygon",
                                        "geometry": validate_geometry("polygon", {"polygons": parts}, width=w, height=h)})
        yield read_image(str(root / "images" / img["file_name"])), annotations


def test_coco128_shapes_stay_valid_and_consistent_under_geometry():
    aug = Augmenter(GEOMETRIC)
    checked = 0
    for image, annotations in coco128():
        for seed in range(3):
            out, result = aug(image, annotations, seed=seed)
            h, w = out.shape[:2]
            for a in result:
                validate_geometry(a["kind"], a["geometry"], width=w, height=h)
                if a["kind"] == "mask":
                    assert rle_to_mask(a["geometry"]).any()
                checked += 1
    assert checked > 100


def test_coco128_polygon_and_its_raster_move_together():
    """A polygon moved as vertices and the same polygon moved as a mask agree (IoU > 0.9)."""
    aug = Augmenter(GEOMETRIC)
    ious = []
    for image, annotations in coco128(4):
        h, w = image.shape[:2]
        polys = [{**a, "id": i} for i, a in enumerate(annotations) if a["kind"] == "polygon"]
        masks = []
        for a in polys:
            rles = mask_utils.frPyObjects(a["geometry"]["polygons"], h, w)
            m = mask_utils.decode(mask_utils.merge(rles))
            masks.append({"id": a["id"], "label": a["label"], "kind": "mask",
                          "geometry": {"rle": {"size": [h, w], "counts": mask_utils.encode(
                              np.asfortranarray(m))["counts"].decode("ascii")}}})
        out, result = aug(image, polys + masks, seed=1)
        oh, ow = out.shape[:2]
        moved = {(a["kind"], a["id"]): a for a in result}
        assert polys
        for a in polys:
            p, m = moved.get(("polygon", a["id"])), moved.get(("mask", a["id"]))
            assert (p is None) == (m is None) or (p or m)["bbox"][2] * (p or m)["bbox"][3] < 50
            if p is None or m is None:
                continue
            rles = mask_utils.frPyObjects(p["geometry"]["polygons"], oh, ow)
            pm = mask_utils.decode(mask_utils.merge(rles)).astype(bool)
            mm = rle_to_mask(m["geometry"]).astype(bool)
            if mm.sum() < 1000:
                continue  # small or thin objects: the raster's one-pixel steps dominate any IoU
            ious.append((pm & mm).sum() / max((pm | mm).sum(), 1))
    assert len(ious) > 10 and np.median(ious) > 0.95 and min(ious) > 0.85, ious


def test_dlc_mouse_ears_swap_under_a_flip_and_lists_keep_their_length():
    root = REAL_DATA / "dlc-openfield-keypoints"
    data = json.loads((root / "annotations.json").read_text())
    names = data["categories"][0]["keypoints"]  # snout, leftear, rightear, tailbase
    labels = {1: LabelInfo("mouse", tuple(names))}
    flip = Augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1}]}, labels=labels)
    low_light = Augmenter(PROFILES["phone-low-light"].spec, labels=labels)
    for img, ann in list(zip(data["images"], data["annotations"]))[:5]:
        image = read_image(str(root / "images" / img["file_name"]))
        pts = ann["keypoints"]
        points = [[pts[i], pts[i + 1], pts[i + 2]] for i in range(0, len(pts), 3)]
        annotation = {"label": 1, "kind": "keypoints", "geometry": {"points": points}}
        _, (out,) = flip(image, [annotation], seed=0)
        moved = out["geometry"]["points"]
        w = image.shape[1]
        assert len(moved) == 4
        # After the flip, "leftear" holds the mirrored right ear, and the snout just mirrors.
        assert moved[1][0] == pytest.approx(w - points[2][0]) and moved[2][0] == pytest.approx(w - points[1][0])
        assert moved[0][0] == pytest.approx(w - points[0][0])
        for seed in range(3):
            _, result = low_light(image, [annotation], seed=seed)
            assert len(result[0]["geometry"]["points"]) == 4


@pytest.mark.parametrize("slug", sorted(PROFILES))
def test_every_profile_runs_on_real_photos_of_any_size(slug):
    aug = Augmenter(PROFILES[slug].spec)
    for image, annotations in coco128(3):
        for seed in range(2):
            out, result = aug(image, annotations, seed=seed)
            h, w = out.shape[:2]
            assert out.dtype == np.uint8 and out.shape[2] == 3
            for a in result:
                validate_geometry(a["kind"], a["geometry"], width=w, height=h)
