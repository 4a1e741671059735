"""Cut-and-paste: masks are the cut-out's alpha after the transform; keypoints follow it."""

from __future__ import annotations

import cv2
import numpy as np

from synth.compositor import HALO_PX, compose, cutout_from_rgba, paste_matrix, poisson_clone

from .builders import rgba_cutout


def test_mask_equals_transformed_alpha():
    rgba = rgba_cutout(40, 60)
    cut = cutout_from_rgba(rgba, label=5, keypoints=[[20, 1, 2], [20, 58, 2]])
    background = np.full((120, 160, 3), 90, dtype=np.uint8)
    for seed in range(5):
        image, pasted = compose(background, [cut], rng=np.random.default_rng(seed), objects=1, scale=(0.4, 0.6),
                                rotation=(-40, 40), truncation=(0.0, 0.0), flip=True, blending="none")
        (obj,) = pasted
        matrix = np.array(obj.params["matrix"])
        expected = cv2.warpAffine(cut.alpha, matrix, (160, 120), flags=cv2.INTER_NEAREST) >= 128
        assert np.array_equal(obj.mask, expected)
        ys, xs = np.nonzero(expected)
        assert obj.box == (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
        for (x, y, _), point in zip(cut.keypoints, obj.keypoints):
            assert np.allclose(point[:2], matrix @ [x, y, 1.0])
        # The pasted pixels are the cut-out's colour inside the mask, the background outside.
        assert (image[obj.mask] == rgba[0, 0, :3]).all() and (image[~obj.mask] == 90).all()


def test_identity_paste_is_the_alpha_shifted():
    cut = cutout_from_rgba(rgba_cutout(30, 20), label=1)
    h, w = cut.alpha.shape
    matrix = paste_matrix((w, h), scale=1.0, angle=0.0, flip=False, centre=(36 + (w - 1) / 2, 31 + (h - 1) / 2))
    placed = cv2.warpAffine(cut.alpha, matrix, (100, 80), flags=cv2.INTER_NEAREST)
    assert np.array_equal(placed[31 : 31 + h, 36 : 36 + w], cut.alpha)
    assert placed.sum() == cut.alpha.sum()


def test_occlusion_and_blending_modes_keep_masks_exact():
    cuts = [cutout_from_rgba(rgba_cutout(50, 50, color=c), label=i) for i, c in enumerate([(250, 0, 0), (0, 250, 0)])]
    rng = np.random.default_rng(1)
    background = rng.integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    for blending in ("none", "gaussian", "poisson"):
        _, pasted = compose(background, cuts, rng=np.random.default_rng(3), objects=4, scale=(0.5, 0.8),
                            rotation=(0, 0), truncation=(0.0, 0.5), flip=False, blending=blending)
        assert pasted
        for a in range(len(pasted)):
            for b in range(a + 1, len(pasted)):
                assert not (pasted[a].mask & pasted[b].mask).any()  # visible masks never overlap


def test_same_seed_same_result():
    cut = cutout_from_rgba(rgba_cutout(), label=1)
    background = np.zeros((64, 64, 3), np.uint8)
    args = dict(objects=3, scale=(0.3, 0.6), rotation=(-30, 30), truncation=(0, 0.3), flip=True, blending="gaussian")
    a_img, a = compose(background, [cut], rng=np.random.default_rng(9), **args)
    b_img, b = compose(background, [cut], rng=np.random.default_rng(9), **args)
    assert np.array_equal(a_img, b_img) and [p.params for p in a] == [p.params for p in b]


def _textured(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(60, 190, size=(height, width, 3), dtype=np.uint8), (0, 0), 2)


def _ellipse_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 2 - 6, height // 2 - 6), 0, 0, 360, 255, -1)
    return mask > 0


def test_poisson_clone_removes_a_constant_colour_offset():
    # A source that is the target plus a constant inside the mask has the target's gradients
    # there: Poisson blending must give the target back (what a hard paste would not).
    target = _textured(70, 90, seed=1)
    mask = _ellipse_mask(70, 90)
    source = target.copy()
    source[mask] = np.clip(source[mask].astype(int) + (50, -40, 30), 0, 255).astype(np.uint8)
    out = poisson_clone(target, source, mask)
    assert np.abs(out.astype(int) - target.astype(int)).max() <= 1


def test_poisson_clone_keeps_the_source_texture_without_a_seam():
    target = np.full((80, 100, 3), 120, np.uint8)
    target[:, :, 1] = np.linspace(80, 160, 100).astype(np.uint8)[None, :]
    source = (_textured(80, 100, seed=2) + 50).astype(np.uint8)  # another texture, brighter (60..240)
    mask = _ellipse_mask(80, 100)
    out = poisson_clone(target, source, mask).astype(np.float32)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lap_out = cv2.Laplacian(out, cv2.CV_32F)[inner]
    lap_src = cv2.Laplacian(source.astype(np.float32), cv2.CV_32F)[inner]
    assert np.abs(lap_out - lap_src).mean() < 1.0  # the object's texture, up to rounding
    # Across the mask's edge the blend is continuous; a hard paste jumps by the colour difference.
    edge = mask & ~inner
    outside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~mask
    hard = target.astype(np.float32).copy()
    hard[mask] = source[mask]
    seam = abs(out[edge].mean() - out[outside].mean())
    hard_seam = abs(hard[edge].mean() - hard[outside].mean())
    assert hard_seam > 10 and seam < hard_seam / 5, (seam, hard_seam)


def test_poisson_blending_in_compose_adapts_the_object_to_the_background():
    # A flat object has no texture to keep: blended in the gradient domain it takes the colour of
    # the background around it, while a hard paste keeps its own colour. Masks are the same.
    cut = cutout_from_rgba(rgba_cutout(40, 50, color=(250, 20, 20)), label=1)
    background = np.full((96, 128, 3), (30, 140, 60), np.uint8)
    args = dict(objects=1, scale=(0.5, 0.5), rotation=(0, 0), truncation=(0, 0), flip=False)
    hard, (hard_obj,) = compose(background, [cut], rng=np.random.default_rng(2), blending="none", **args)
    soft, (soft_obj,) = compose(background, [cut], rng=np.random.default_rng(2), blending="poisson", **args)
    assert np.array_equal(hard_obj.mask, soft_obj.mask) and soft_obj.params["blending"] == "poisson"
    assert np.abs(hard[hard_obj.mask].astype(int) - background[0, 0]).mean() > 100
    assert np.abs(soft[soft_obj.mask].astype(int) - background[0, 0]).max() <= 2


def test_poisson_blending_reaches_the_frame_for_truncated_objects():
    cut = cutout_from_rgba(rgba_cutout(40, 50, color=(250, 20, 20)), label=1)
    background = np.full((96, 128, 3), (30, 140, 60), np.uint8)
    cut_by_frame = 0
    for seed in range(30):
        image, pasted = compose(background, [cut], rng=np.random.default_rng(seed), objects=1, scale=(0.5, 0.5),
                                rotation=(0, 0), truncation=(0.4, 0.6), flip=False, blending="poisson")
        if not pasted:
            continue
        mask = pasted[0].mask
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            cut_by_frame += 1
            assert np.abs(image[mask].astype(int) - background[0, 0]).max() <= 2, seed
    assert cut_by_frame >= 3


def test_poisson_blending_leaves_the_background_alone_beyond_a_thin_rim():
    # A textured, brighter, rotated cut-out on a ramp: the correction the solve spreads outside the
    # mask fades out within HALO_PX pixels; farther away every pixel is the background's.
    rng = np.random.default_rng(5)
    rgba = rgba_cutout(60, 80)
    rgba[..., :3] = np.clip(cv2.GaussianBlur(rng.integers(90, 255, (80, 60, 3), dtype=np.uint8), (0, 0), 1.2), 0, 255)
    cut = cutout_from_rgba(rgba, label=1)
    background = np.zeros((120, 160, 3), np.uint8)
    background[:] = np.linspace(20, 120, 160).astype(np.uint8)[None, :, None]
    image, (obj,) = compose(background, [cut], rng=np.random.default_rng(1), objects=1, scale=(0.6, 0.6),
                            rotation=(25, 25), truncation=(0, 0), flip=False, blending="poisson")
    distance = cv2.distanceTransform((~obj.mask).astype(np.uint8), cv2.DIST_L2, 3)
    far = distance >= HALO_PX
    near = (distance > 0) & ~far
    assert np.array_equal(image[far], background[far])
    changed = np.abs(image.astype(int) - background.astype(int)).max(axis=2)
    assert changed[near].max() > 0  # the rim does fade (no hard seam at the mask's edge)
    hard, _ = compose(background, [cut], rng=np.random.default_rng(1), objects=1, scale=(0.6, 0.6),
                      rotation=(25, 25), truncation=(0, 0), flip=False, blending="none")
    assert np.abs(image[obj.mask].astype(int) - hard[obj.mask].astype(int)).mean() > 10  # blended inside
