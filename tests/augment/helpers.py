"""Small builders for the augment tests: synthetic images with one coloured object whose
annotations (box, polygon, mask, keypoints) are known exactly."""

from __future__ import annotations

import cv2
import numpy as np

from annotate.geometry import mask_to_rle

RED = (255, 0, 0)


def smooth_image(width: int = 160, height: int = 120, *, seed: int = 0) -> np.ndarray:
    """A natural-ish image: upsampled random colours, no pure red anywhere."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 200, size=(max(height // 16, 2), max(width // 16, 2), 3), dtype=np.uint8)
    small[..., 0] //= 2  # keep the background far from the object's red
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def flat_image(value: int = 128, width: int = 128, height: int = 96) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def scene_with_object(width: int = 160, height: int = 120, rect=(50, 30, 90, 70), *, label: int = 1, face_label: int = 2):
    """An image with a red rectangle and the annotations of that rectangle in every kind.

    Keypoints (left_eye, right_eye, nose) sit inside the rectangle: left_eye on the image's left.
    """
    x0, y0, x1, y1 = rect
    image = smooth_image(width, height)
    image[y0:y1, x0:x1] = RED
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    annotations = [
        {"id": 1, "label": label, "kind": "box", "geometry": {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}},
        {"id": 2, "label": label, "kind": "polygon", "geometry": {"polygons": [[x0, y0, x1, y0, x1, y1, x0, y1]]}},
        {"id": 3, "label": label, "kind": "mask", "geometry": mask_to_rle(mask)},
        {"id": 4, "label": face_label, "kind": "keypoints", "geometry": {"points": [
            [x0 + 6.5, y0 + 6.5, 2], [x1 - 6.5, y0 + 6.5, 2], [(x0 + x1) / 2, y1 - 6.5, 1]]}},
        {"id": 5, "label": label, "kind": "tag", "geometry": {}},
    ]
    return image, annotations


def red_region(image: np.ndarray) -> np.ndarray:
    """Where the object is in an augmented image (pure-ish red pixels)."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 90) & (b < 90)


def red_bbox(image: np.ndarray):
    ys, xs = np.nonzero(red_region(image))
    if not len(xs):
        return None
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()
