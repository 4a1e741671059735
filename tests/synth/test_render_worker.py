"""The Blender worker on its own: masks from the object-index pass, boxes, keypoint visibility,
determinism. Each test renders a few 96x96 images at 2 samples in a Blender subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from synth.spec import camera_location

from .builders import CHARACTER, obj, scene

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.slow


def render(tmp_path: Path, scenes: list[dict], keypoint_names: dict | None = None, assets: dict | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    shard = tmp_path / "shard.json"
    shard.write_text(json.dumps({"device": "CPU", "scenes": scenes, "keypoint_names": keypoint_names or {},
                                 "assets": assets or {}}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "synth.render_worker", str(shard), str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("RENDERED ") == len(scenes)
    return out


def mask_box(ids: np.ndarray, instance: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(ids == instance)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_mask_box_matches_projected_mesh_for_unoccluded_objects(tmp_path):
    objects = [obj("builtin:character", instance=1), obj("builtin:torus", instance=2, label=2, location=(1.3, 0.6, 0.0)),
               obj("builtin:cube", instance=3, label=None, location=(-1.4, 0.8, 0.0), rotation_z=30)]
    out = render(tmp_path, [scene(objects, distance=6.0)])
    ids = cv2.imread(str(out / "0.ids.png"), cv2.IMREAD_UNCHANGED)
    labels = json.loads((out / "0.json").read_text())
    assert ids.dtype == np.uint16 and set(np.unique(ids)) == {0, 1, 2, 3}
    for inst in labels["instances"]:
        x0, y0, x1, y1 = inst["projected_box"]
        assert 0 < x0 and x1 < 96 and 0 < y0 and y1 < 96, "the object must be fully in frame for this check"
        got = mask_box(ids, inst["instance"])
        assert np.allclose(got, (x0, y0, x1, y1), atol=2.0), (inst["source"], got, inst["projected_box"])
    rgb = cv2.imread(str(out / "0.png"))
    assert rgb.shape == (96, 96, 3)


def test_occluded_keypoint_is_hidden_and_free_one_visible(tmp_path):
    desc = scene([obj("builtin:character", instance=1)], distance=4.0, elevation=10.0)
    cam = np.array(camera_location(desc["camera"]))
    nose = np.array([0.0, -0.15, 1.42]) / 1.57  # where the built-in character's nose empty sits
    blocker = nose + 0.35 * (cam - nose)
    desc["occluders"] = [{"location": blocker.tolist(), "size": [0.08, 0.08, 0.08]}]
    free = scene([obj("builtin:character", instance=1)], index=1, distance=4.0, elevation=10.0)
    out = render(tmp_path, [desc, free], {"1": CHARACTER})
    hidden = json.loads((out / "0.json").read_text())["instances"][0]["keypoints"]
    visible = json.loads((out / "1.json").read_text())["instances"][0]["keypoints"]
    assert hidden[0][2] == 1, hidden  # the nose, behind the blocker
    assert visible[0][2] == 2, visible
    assert hidden[3][2] == 2 and visible[3][2] == 2  # the left foot is free in both
    # The hidden nose still projects where the free one does (same camera, same pose).
    assert np.allclose(hidden[0][:2], visible[0][:2], atol=1e-3)


def test_keypoint_outside_the_frame_is_unlabelled(tmp_path):
    # Zoomed in on the feet: the nose is above the top of the frame.
    desc = scene([obj("builtin:character", instance=1)], distance=1.6, elevation=5.0, focal_length=50.0)
    desc["camera"]["target"] = [0.0, 0.0, 0.05]
    out = render(tmp_path, [desc], {"1": CHARACTER})
    points = json.loads((out / "0.json").read_text())["instances"][0]["keypoints"]
    assert points[0] == [0.0, 0.0, 0]
    assert points[3][2] in (1, 2)


def test_same_scene_renders_same_labels(tmp_path):
    from synth.spec import scene_sample, spec_clean

    spec = spec_clean(
        {"count": 2, "resolution": [96, 96], "samples": 2, "seed": 3, "objects_per_image": [2, 3], "distractors": [1, 1],
         "classes": [{"label": 1, "assets": ["builtin:character", "builtin:sphere"]}]},
        labels={1: {"name": "thing", "keypoint_names": CHARACTER}}, assets={},
    )
    scenes = [scene_sample(spec, 0), scene_sample(spec, 1)]
    assert scenes == [scene_sample(spec, 0), scene_sample(spec, 1)]
    first = render(tmp_path / "a", scenes, {"1": CHARACTER})
    second = render(tmp_path / "b", [scene_sample(spec, 0), scene_sample(spec, 1)], {"1": CHARACTER})
    for i in (0, 1):
        assert json.loads((first / f"{i}.json").read_text()) == json.loads((second / f"{i}.json").read_text())
        a = cv2.imread(str(first / f"{i}.ids.png"), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(second / f"{i}.ids.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(a, b)


def test_hdri_lights_the_scene_and_background_images_are_composited_behind(tmp_path):
    # An orange environment map: seen directly in the sky, it must colour the image.
    hdri = tmp_path / "sky.hdr"
    cv2.imwrite(str(hdri), np.full((16, 32, 3), (0.05, 0.4, 1.6), np.float32))  # BGR: orange
    # A blue background image with a white square in its centre, 4x the frame.
    back = np.zeros((384, 384, 3), np.uint8)
    back[:] = (200, 60, 20)
    back[160:224, 160:224] = 255
    cv2.imwrite(str(tmp_path / "back.png"), back)
    assets = {"7": {"kind": "hdri", "format": "hdr", "path": str(hdri), "label": None},
              "8": {"kind": "background", "format": "png", "path": str(tmp_path / "back.png"), "label": None}}
    sky = scene([obj("builtin:sphere", instance=1, location=(0.0, 0.0, -0.8))], distance=6.0, elevation=-5.0)
    sky["ground"] = False
    sky["world"] = {"color": [0.0, 0.0, 0.0], "background": 7, "strength": 1.0}
    composited = scene([obj("builtin:cube", instance=1, location=(-1.6, 0.0, 0.0))], index=1, distance=8.0)
    composited["world"] = {"color": [0.3, 0.3, 0.3], "background": 8, "strength": 1.0}
    out = render(tmp_path / "render", [sky, composited], assets=assets)

    lit = cv2.imread(str(out / "0.png"))
    ids = cv2.imread(str(out / "0.ids.png"), cv2.IMREAD_UNCHANGED)
    b, g, r = (lit[ids == 0].astype(float).mean(axis=0))
    assert r > 150 and r > g > b, (b, g, r)  # the environment's orange, not the black world colour

    image = cv2.imread(str(out / "1.png"))
    ids = cv2.imread(str(out / "1.ids.png"), cv2.IMREAD_UNCHANGED)
    assert (ids == 1).any()
    # Away from the object (off to the left, its shadow to its left) the pixels are the background
    # image, resized to cover the frame: blue at the right corner, white where the centre square is.
    assert not (ids[36:60, 36:60] == 1).any()
    # (Medians: at 2 samples the shadow catcher leaves a few noisy pixels.)
    blue = (200, 60, 20)
    assert np.abs(np.median(image[0:8, 88:96], axis=(0, 1)) - blue).max() <= 3
    assert np.median(image[42:54, 42:54]) == 255
    assert np.abs(np.median(image[42:54, 60:70], axis=(0, 1)) - blue).max() <= 3  # right of the square
