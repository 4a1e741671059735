"""Cut-and-paste synthesis (after Dwibedi et al. 2017, "Cut, Paste and Learn").

Objects cut out with a mask are pasted onto background images with a random scale, rotation and
flip; some leave the frame (truncation) and later ones may cover part of earlier ones
(occlusion, bounded so every object stays recognisable). The paste is blended so that a
detector cannot learn the seam instead of the object: ``none`` (hard edge), ``gaussian``
(feathered alpha) or ``poisson`` (gradient-domain blending, :func:`poisson_clone`). Labels are
exact by construction: an object's mask is its cut-out's alpha pushed through the same affine
transform (nearest neighbour, so it is the transformed alpha, not an approximation), minus what
later objects cover and what fell outside the image; its box is the box of that visible mask; its
keypoints go through the same transform (hidden under a later object: v = 1; outside: v = 0).

numpy, OpenCV and SciPy's FFT only; no Django, no Blender.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.fft import dstn, idstn, next_fast_len

from annotate.geometry import mask_box

MAX_OCCLUSION = 0.5  # a new object may hide at most this fraction of an earlier one
MIN_VISIBLE_PIXELS = 16
PLACEMENT_TRIES = 10
FEATHER_SIGMA = 1.5
HALO_PX = 4  # Poisson blending shades only pixels closer than this to an object's mask


@dataclass
class Cutout:
    """An object to paste: BGR pixels, its alpha (0..255) and optional keypoints in its frame."""

    label: int
    bgr: np.ndarray
    alpha: np.ndarray
    keypoints: list[list[float]] | None = None
    origin: dict = field(default_factory=dict)  # where it came from, for the image's meta


@dataclass
class Pasted:
    label: int
    mask: np.ndarray  # bool (H, W), the visible part
    box: tuple[float, float, float, float]
    keypoints: list[list[float]] | None
    params: dict


def fit_background(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The background scaled to cover ``width`` x ``height`` and centre-cropped."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, math.ceil(w * scale)), max(height, math.ceil(h * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y0, x0 = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])


def paste_matrix(cutout_size: tuple[int, int], *, scale: float, angle: float, flip: bool, centre: tuple[float, float]) -> np.ndarray:
    """The 2x3 affine map from cut-out pixels to output pixels.

    The cut-out's centre lands on ``centre``; it is flipped left-right first, then scaled, then
    rotated by ``angle`` degrees (counter-clockwise on screen).
    """
    w, h = cutout_size
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    f = np.array([[-1.0 if flip else 1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    to_origin = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    s = np.diag([scale, scale, 1.0])
    back = np.array([[1.0, 0.0, centre[0]], [0.0, 1.0, centre[1]], [0.0, 0.0, 1.0]])
    return (back @ rot @ s @ f @ to_origin)[:2]


def warp_region(matrix: np.ndarray, cutout_size: tuple[int, int], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The part of the output (x0, y0, x1, y1) a transformed cut-out can touch, or None."""
    w, h = cutout_size
    corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]]) @ matrix.T
    x0, y0 = max(int(math.floor(corners[:, 0].min())), 0), max(int(math.floor(corners[:, 1].min())), 0)
    x1, y1 = min(int(math.ceil(corners[:, 0].max())) + 1, width), min(int(math.ceil(corners[:, 1].max())) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _warp(cut: Cutout, matrix: np.ndarray, region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out's pixels and hard mask, warped into ``region`` of the output."""
    x0, y0, x1, y1 = region
    local = matrix.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    bgr = cv2.warpAffine(cut.bgr, local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(cut.alpha, local, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return bgr, alpha >= 128


def _blend(canvas: np.ndarray, bgr: np.ndarray, mask: np.ndarray, region, mode: str) -> str:
    """Paste ``bgr`` into ``canvas`` where ``mask``; returns the mode actually used."""
    x0, y0, x1, y1 = region
    target = canvas[y0:y1, x0:x1]
    if mode == "gaussian":
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), FEATHER_SIGMA)[:, :, None]
        target[:] = (bgr * soft + target * (1.0 - soft) + 0.5).astype(np.uint8)
        return mode
    if mode == "poisson" and np.count_nonzero(mask) >= MIN_VISIBLE_PIXELS:
        _poisson_paste(canvas, bgr, mask, region)
        return mode
    target[mask] = bgr[mask]
    return "none"


def _poisson_paste(canvas: np.ndarray, bgr: np.ndarray, mask: np.ndarray, region) -> None:
    """Blend ``bgr`` into ``canvas`` over ``mask`` in the gradient domain (:func:`poisson_clone`).

    The solve runs on a window a little larger than the object, not on the whole image, grown to
    sizes the FFT handles fast. Where the window reaches past the image's edges, those pixels
    repeat the edge (so an object cut by the frame blends up to it) and are not written back.
    """
    x0, y0, x1, y1 = region
    height, width = canvas.shape[:2]
    wx0, wx1 = _fast_span(x0 - 3, x1 + 3)
    wy0, wy1 = _fast_span(y0 - 3, y1 + 3)
    cx0, cy0, cx1, cy1 = max(wx0, 0), max(wy0, 0), min(wx1, width), min(wy1, height)
    pad = ((cy0 - wy0, wy1 - cy1), (cx0 - wx0, wx1 - cx1), (0, 0))
    target = np.pad(canvas[cy0:cy1, cx0:cx1], pad, mode="edge")
    source = target.copy()
    source[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = bgr
    window_mask = np.zeros(target.shape[:2], dtype=bool)
    window_mask[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = mask
    blended = poisson_clone(target, source, window_mask).astype(np.float32)
    # The solve leaves a smooth correction outside the mask too (as cv2.seamlessClone does, over
    # the whole window): keep it inside and fade it out over HALO_PX pixels, so the background and
    # earlier objects stay as they were beyond that rim, with no seam at the mask's edge.
    distance = cv2.distanceTransform((~window_mask).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - distance / HALO_PX, 0.0, 1.0)[:, :, None]
    base = target.astype(np.float32)
    faded = np.clip(base + (blended - base) * weight + 0.5, 0, 255).astype(np.uint8)
    canvas[cy0:cy1, cx0:cx1] = faded[cy0 - wy0 : cy1 - wy0, cx0 - wx0 : cx1 - wx0]


def _fast_span(start: int, stop: int) -> tuple[int, int]:
    """[start, stop) widened on both sides so that its interior (the span less its two fixed
    ends) has a fast DST-I: interior + 1 is 5-smooth."""
    length = next_fast_len(max(stop - start - 1, 1), real=True) + 1
    start -= (length - (stop - start)) // 2
    return start, start + length


def poisson_clone(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson image editing (Perez et al. 2003) of ``source`` into ``target`` where ``mask``, in
    the rectangular form cv2.seamlessClone also solves.

    The result keeps the source's gradients between neighbouring pixels that are both in the
    mask and the target's everywhere else, with the window's outer ring fixed to the target: the
    pasted object keeps its texture while its colour and brightness meet the background without
    a seam. With ``u = target + e`` that is ``laplace(e) = div(mask_edges * grad(source - target))``,
    zero on the ring, solved exactly by a type-I discrete sine transform (the 5-point Laplacian's
    eigenbasis) -- no iterations. ``target``, ``source``: (H, W, 3) uint8; ``mask``: (H, W) bool,
    False on the outer ring. Returns the blended (H, W, 3) uint8 window.
    """
    base = target.astype(np.float32)
    diff = source.astype(np.float32) - base
    gx = np.diff(diff, axis=1)
    gx *= (mask[:, 1:] & mask[:, :-1])[:, :, None]
    gy = np.diff(diff, axis=0)
    gy *= (mask[1:, :] & mask[:-1, :])[:, :, None]
    div = np.zeros_like(diff)
    div[:, :-1] += gx
    div[:, 1:] -= gx
    div[:-1, :] += gy
    div[1:, :] -= gy
    rhs = div[1:-1, 1:-1]
    n, m = rhs.shape[:2]
    ky = np.sin(np.pi * np.arange(1, n + 1, dtype=np.float32) / (2 * (n + 1))) ** 2
    kx = np.sin(np.pi * np.arange(1, m + 1, dtype=np.float32) / (2 * (m + 1))) ** 2
    eigen = -4.0 * (ky[:, None] + kx[None, :])
    coefficients = dstn(rhs, type=1, axes=(0, 1), norm="ortho")
    coefficients /= eigen[:, :, None]
    base[1:-1, 1:-1] += idstn(coefficients, type=1, axes=(0, 1), norm="ortho")
    return np.clip(base + 0.5, 0, 255).astype(np.uint8)


def compose(
    background: np.ndarray,
    cutouts: list[Cutout],
    *,
    rng: np.random.Generator,
    objects: int,
    scale: tuple[float, float],
    rotation: tuple[float, float],
    truncation: tuple[float, float],
    flip: bool,
    blending: str,
) -> tuple[np.ndarray, list[Pasted]]:
    """Paste ``objects`` random cut-outs onto a copy of ``background`` (already at output size)."""
    height, width = background.shape[:2]
    canvas = background.copy()
    placed: list[dict] = []  # each: cutout, matrix, full-frame visible mask, params
    side = min(width, height)
    for _ in range(objects):
        cut = cutouts[int(rng.integers(len(cutouts)))]
        ch, cw = cut.alpha.shape
        for _attempt in range(PLACEMENT_TRIES):
            s = float(rng.uniform(*scale)) * side / max(cw, ch)
            angle = float(rng.uniform(*rotation))
            flipped = bool(flip and rng.random() < 0.5)
            allowed = float(rng.uniform(*truncation))
            half = 0.5 * s * max(cw, ch)
            centre = (float(rng.uniform(-half * allowed, width + half * allowed)), float(rng.uniform(-half * allowed, height + half * allowed)))
            matrix = paste_matrix((cw, ch), scale=s, angle=angle, flip=flipped, centre=centre)
            region = warp_region(matrix, (cw, ch), width, height)
            if region is None:
                continue
            bgr, local = _warp(cut, matrix, region)
            inside = int(local.sum())
            total = float(np.count_nonzero(cut.alpha >= 128)) * s * s
            if inside < MIN_VISIBLE_PIXELS or inside < (1.0 - allowed) * total * 0.98:
                continue  # more of it left the frame than this object may lose
            full = np.zeros((height, width), dtype=bool)
            full[region[1] : region[3], region[0] : region[2]] = local
            if any(np.count_nonzero(p["mask"] & full) > MAX_OCCLUSION * np.count_nonzero(p["mask"]) for p in placed):
                continue
            break
        else:
            continue
        used = _blend(canvas, bgr, local, region, blending)
        for p in placed:
            p["mask"] &= ~full
        placed.append(
            {
                "cut": cut, "matrix": matrix, "mask": full,
                "params": {"scale": s, "angle": angle, "flip": flipped, "centre": list(centre),
                           "matrix": matrix.tolist(), "blending": used, "origin": cut.origin},
            }
        )
    out: list[Pasted] = []
    for k, p in enumerate(placed):
        if np.count_nonzero(p["mask"]) < MIN_VISIBLE_PIXELS:
            continue
        keypoints = None
        if p["cut"].keypoints is not None:
            keypoints = []
            for x, y, v in p["cut"].keypoints:
                if v == 0:
                    keypoints.append([0.0, 0.0, 0])
                    continue
                px, py = p["matrix"] @ np.array([x, y, 1.0])
                if not (0 <= px < width and 0 <= py < height):
                    keypoints.append([0.0, 0.0, 0])
                    continue
                covered = any(q["mask"][int(py), int(px)] for q in placed[k + 1 :])
                keypoints.append([float(px), float(py), 1 if covered else int(v)])
        out.append(Pasted(label=p["cut"].label, mask=p["mask"], box=mask_box(p["mask"]), keypoints=keypoints, params=p["params"]))
    return canvas, out


def cutout_from_rgba(rgba: np.ndarray, *, label: int, keypoints=None, origin: dict | None = None) -> Cutout:
    """A cut-out from an RGBA image (BGRA as OpenCV reads it), cropped to its alpha."""
    alpha = rgba[:, :, 3]
    box = mask_box(alpha >= 128)
    if box is None:
        raise ValueError("The cut-out's alpha channel is empty.")
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = x0 + int(box[2]), y0 + int(box[3])
    kps = None
    if keypoints is not None:
        kps = [[x - x0, y - y0, v] if v else [0.0, 0.0, 0] for x, y, v in keypoints]
    return Cutout(label=label, bgr=np.ascontiguousarray(rgba[y0:y1, x0:x1, :3]),
                  alpha=np.ascontiguousarray(alpha[y0:y1, x0:x1]), keypoints=kps, origin=origin or {})


def cutout_from_mask(bgr: np.ndarray, mask: np.ndarray, *, label: int, keypoints=None, origin: dict | None = None) -> Cutout:
    """A cut-out of an annotated object: the image's pixels under its mask, cropped."""
    rgba = np.dstack([bgr, (mask > 0).astype(np.uint8) * 255])
    return cutout_from_rgba(rgba, label=label, keypoints=keypoints, origin=origin)
