"""Cut-and-paste: masks are the cut-out's alpha after the transform; keypoints follow it."""

from __future__ import annotations

import cv2
import numpy as np

from synth.compositor import compose, cutout_from_rgba, paste_matrix

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
