"""Built-in device profiles: valid, documented, and each profile's strength measurably grows with
severity (noise standard deviation, JPEG size, distance from the original)."""

import numpy as np
import pytest

from augment.pipeline import Augmenter, LabelInfo
from augment.profiles import PROFILES, SEVERITIES, corruption_spec, profile_get
from augment.recipes import validate_spec

from .helpers import encode_jpeg, flat_image, scene_with_object, smooth_image

REQUIRED = {"phone-daylight", "phone-low-light", "iot-low-res", "dashcam-motion", "indoor-tungsten", "cheap-lens"}


def corrupt(slug, severity, image, seed=0):
    return Augmenter(corruption_spec(slug, severity))(image, [], seed=seed)[0]


def test_the_required_profiles_exist_and_are_documented():
    assert REQUIRED <= set(PROFILES)
    for profile in PROFILES.values():
        data = profile.as_dict()
        assert len(data["simulates"]) > 40 and len(data["rationale"]) > 80
        assert all(len(values) == 5 for values in data["severity_levels"].values())


@pytest.mark.parametrize("slug", sorted(PROFILES))
def test_profile_recipes_and_every_severity_validate(slug):
    validate_spec(PROFILES[slug].spec)
    for severity in SEVERITIES:
        spec = corruption_spec(slug, severity)
        validate_spec(spec)
        assert all(item.get("p") == 1 for item in spec["transforms"])  # corruptions always apply


def test_unknown_profile_or_severity():
    with pytest.raises(KeyError):
        profile_get("potato-cam")
    with pytest.raises(ValueError):
        corruption_spec("phone-low-light", 6)


@pytest.mark.parametrize("slug", sorted(PROFILES))
def test_distance_from_the_original_grows_with_severity(slug):
    image = smooth_image(192, 144)
    distance = [float(np.abs(corrupt(slug, s, image).astype(float) - image).mean()) for s in SEVERITIES]
    assert distance[0] > 0.5
    assert distance[0] < distance[2] < distance[4], distance


def _noise_std(image):
    """Noise on a flat image: std of the high-pass residual (robust to a brightness change)."""
    img = image.astype(float).mean(axis=2)
    return float((img[1:, 1:] - img[:-1, :-1]).std() / np.sqrt(2))


@pytest.mark.parametrize("slug", ["phone-low-light", "iot-low-res"])
def test_noise_std_grows_with_severity(slug):
    # (ISONoise, used by the daylight and tungsten profiles, scales with the image's own contrast and
    # adds nothing to a flat frame; their strength is covered by the distance test above.)
    image = flat_image(110, 192, 144)
    stds = [np.mean([_noise_std(corrupt(slug, s, image, seed=k)) for k in range(3)]) for s in SEVERITIES]
    assert stds[0] < stds[2] < stds[4], stds


@pytest.mark.parametrize("slug", ["phone-low-light", "iot-low-res", "phone-daylight", "dashcam-motion"])
def test_jpeg_size_shrinks_with_severity(slug):
    """Harder compression (and blur) leave less detail: the frame encodes to fewer bytes."""
    image = smooth_image(192, 144, seed=3)
    image = np.clip(image.astype(int) + np.random.default_rng(0).integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
    if slug == "phone-low-light":
        # Noise adds bytes; compression quality is what must move: compare the compression step alone.
        sizes = [len(encode_jpeg(Augmenter({"transforms": [_step(corruption_spec(slug, s), "ImageCompression")]})(
            image, [], seed=0)[0], 100)) for s in SEVERITIES]
    else:
        sizes = [len(encode_jpeg(corrupt(slug, s, image), 100)) for s in SEVERITIES]
    assert sizes[0] > sizes[2] > sizes[4], sizes


def _step(spec, name):
    return next(t for t in spec["transforms"] if t["name"] == name)


def _sharpness(image):
    """Mean absolute difference of neighbouring pixels: falls as an image blurs."""
    img = image.astype(float).mean(axis=2)
    return float(np.abs(np.diff(img, axis=0)).mean() + np.abs(np.diff(img, axis=1)).mean())


def test_low_light_shake_blurs_more_as_the_light_drops():
    """Longer exposures in dimmer light smear more: the blur step alone loses more detail per severity."""
    image = np.zeros((96, 128, 3), np.uint8)
    image[::8] = 255  # thin stripes: any smear across them lowers the edge energy
    image[:, ::8] = 255
    kernels = [_step(corruption_spec("phone-low-light", s), "MotionBlur")["params"]["blur_limit"][0] for s in SEVERITIES]
    assert kernels == sorted(kernels) and kernels[0] >= 3 and kernels[-1] <= 9
    sharp = [np.mean([_sharpness(Augmenter({"transforms": [_step(corruption_spec("phone-low-light", s), "MotionBlur")]})(
        image, [], seed=k)[0]) for k in range(4)]) for s in SEVERITIES]
    assert sharp[0] > sharp[2] > sharp[4], sharp
    names = [t["name"] for t in corruption_spec("phone-low-light", 3)["transforms"]]
    assert names == ["MotionBlur", "PoissonGaussianNoise", "ImageCompression"]  # optics, sensor, ISP


def test_low_light_darkens_in_linear_light_then_recovers_with_gain():
    image = flat_image(150, 128, 96)
    out = corrupt("phone-low-light", 5, image)
    # Full gain recovery at the corruption settings: brightness roughly kept, noise large.
    assert abs(float(out.mean()) - 150) < 25
    assert _noise_std(out) > 10


def test_corruption_is_deterministic_by_seed():
    image = smooth_image(128, 96)
    for slug in PROFILES:
        a, b = corrupt(slug, 3, image, seed=5), corrupt(slug, 3, image, seed=5)
        assert np.array_equal(a, b), slug


@pytest.mark.parametrize("slug", sorted(PROFILES))
def test_profiles_keep_annotations_valid(slug):
    image, annotations = scene_with_object()
    labels = {2: LabelInfo("face", ("left_eye", "right_eye", "nose"))}
    aug = Augmenter(PROFILES[slug].spec, labels=labels)
    for seed in range(4):
        out, result = aug(image, annotations, seed=seed)
        assert len([a for a in result if a["kind"] == "keypoints"]) == 1
        assert out.dtype == np.uint8 and out.ndim == 3


def test_tungsten_warm_cast_grows_with_severity():
    image = flat_image(140, 128, 96)
    warmth = []
    for s in SEVERITIES:
        outs = [corrupt("indoor-tungsten", s, image, seed=k).astype(float) for k in range(8)]
        warmth.append(np.mean([o[..., 0].mean() / o[..., 2].mean() for o in outs]))
    assert warmth[0] > 1.0  # redder than blue already at severity 1
    assert warmth[0] < warmth[2] < warmth[4], warmth


def test_cheap_lens_corners_darken_with_severity():
    image = flat_image(180, 160, 120)
    ratios = []
    for s in SEVERITIES:
        out = corrupt("cheap-lens", s, image).astype(float).mean(axis=2)
        ratios.append(out[8:20, 8:20].mean() / out[54:66, 74:86].mean())
    assert ratios[0] < 1.0
    assert ratios[0] > ratios[2] > ratios[4], ratios


@pytest.mark.parametrize("slug", ["dashcam-motion", "cheap-lens"])
def test_blur_grows_with_severity(slug):
    """Sharpness (variance of the Laplacian) falls as motion blur or defocus grows."""
    import cv2

    image = smooth_image(192, 144, seed=2)
    image[::8] = 255  # fine horizontal and vertical lines to blur
    image[:, ::8] = 0
    sharpness = [float(cv2.Laplacian(corrupt(slug, s, image).mean(axis=2), cv2.CV_64F).var()) for s in SEVERITIES]
    assert sharpness[0] > sharpness[2] > sharpness[4], sharpness
