"""Our sensor transforms: the noise model is the one the paper describes, parameters take effect,
and draws are reproducible."""

import math

import albumentations as A
import numpy as np
import pytest

from augment.transforms import (
    READ_NOISE_INTERCEPT,
    READ_NOISE_SLOPE,
    SHOT_NOISE_RANGE,
    PoissonGaussianNoise,
    Vignetting,
    _srgb_to_linear,
    poisson_gaussian_noise,
    read_noise_for,
    sample_noise_levels,
    standard_normal_fast,
)

from .helpers import flat_image, smooth_image


def _linear(img: np.ndarray) -> np.ndarray:
    return _srgb_to_linear(img.astype(np.float64) / 255.0)


def test_fast_normal_noise_is_standard_normal_and_seeded():
    a = standard_normal_fast(np.random.default_rng(1), (400, 500))
    b = standard_normal_fast(np.random.default_rng(1), (400, 500))
    assert np.array_equal(a, b)
    assert abs(float(a.mean())) < 0.01
    assert abs(float(a.std()) - 1.0) < 0.01
    # Gaussian tails, not uniform: about 4.55% beyond 2 sigma.
    assert 0.040 < float((np.abs(a) > 2).mean()) < 0.051


@pytest.mark.parametrize("level", [64, 128, 200])
def test_noise_variance_follows_shot_times_signal_plus_read(level):
    img = flat_image(level, 256, 256)
    shot, read = 0.004, 1e-4
    out = poisson_gaussian_noise(img, exposure=1.0, gain=1.0, shot_noise=shot, read_noise=read,
                                 rng=np.random.default_rng(0))
    signal = float(_linear(img).mean())
    measured = _linear(out)
    # The output is quantised to 8 bits in sRGB; compare in linear light with a tolerance for that.
    predicted_var = shot * signal + read
    assert measured.var() == pytest.approx(predicted_var, rel=0.15)
    assert measured.mean() == pytest.approx(signal, rel=0.03)


def test_exposure_darkens_and_gain_recovers_brightness():
    img = flat_image(160)
    rng = np.random.default_rng
    dark = poisson_gaussian_noise(img, exposure=0.1, gain=1.0, shot_noise=1e-3, read_noise=1e-5, rng=rng(0))
    recovered = poisson_gaussian_noise(img, exposure=0.1, gain=10.0, shot_noise=1e-3, read_noise=1e-5, rng=rng(0))
    assert _linear(dark).mean() == pytest.approx(0.1 * _linear(img).mean(), rel=0.05)
    assert _linear(recovered).mean() == pytest.approx(_linear(img).mean(), rel=0.05)
    # Gain amplifies the noise with the signal: the recovered frame is noisier than the original scene.
    assert _linear(recovered).std() > 5 * _linear(dark).std()


def test_more_shot_noise_gives_more_noise():
    img = smooth_image(128, 96)
    stds = []
    for shot in (1e-4, 1e-3, 1e-2):
        out = poisson_gaussian_noise(img, exposure=0.3, gain=1 / 0.3, shot_noise=shot, read_noise=read_noise_for(shot),
                                     rng=np.random.default_rng(0))
        stds.append(float((out.astype(float) - img).std()))
    assert stds[0] < stds[1] < stds[2]


def test_noise_levels_drawn_from_the_paper_ranges():
    rng = np.random.default_rng(0)
    draws = [sample_noise_levels(rng) for _ in range(4000)]
    shots = np.array([d[0] for d in draws])
    reads = np.array([d[1] for d in draws])
    assert shots.min() >= SHOT_NOISE_RANGE[0] and shots.max() <= SHOT_NOISE_RANGE[1]
    # log shot is uniform: its mean sits in the middle of the log range.
    mid = (math.log(SHOT_NOISE_RANGE[0]) + math.log(SHOT_NOISE_RANGE[1])) / 2
    assert np.log(shots).mean() == pytest.approx(mid, abs=0.1)
    residual = np.log(reads) - (READ_NOISE_SLOPE * np.log(shots) + READ_NOISE_INTERCEPT)
    assert residual.mean() == pytest.approx(0.0, abs=0.02)
    assert residual.std() == pytest.approx(0.26, abs=0.02)


def test_transform_plugs_into_compose_and_is_seeded():
    img = smooth_image(128, 96)
    compose = A.Compose([PoissonGaussianNoise(p=1.0), A.HorizontalFlip(p=0.5)], seed=7)
    a = compose(image=img)["image"]
    compose2 = A.Compose([PoissonGaussianNoise(p=1.0), A.HorizontalFlip(p=0.5)], seed=7)
    b = compose2(image=img)["image"]
    c = A.Compose([PoissonGaussianNoise(p=1.0), A.HorizontalFlip(p=0.5)], seed=8)(image=img)["image"]
    assert a.dtype == np.uint8 and a.shape == img.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert isinstance(PoissonGaussianNoise(), A.ImageOnlyTransform)


def test_exposure_range_takes_effect():
    img = flat_image(180)
    bright = PoissonGaussianNoise(exposure_range=(0.9, 0.9), gain_recovery_range=(0, 0), p=1)
    dark = PoissonGaussianNoise(exposure_range=(0.1, 0.1), gain_recovery_range=(0, 0), p=1)
    bright.set_random_seed(0)
    dark.set_random_seed(0)
    assert _linear(dark(image=img)["image"]).mean() < 0.2 * _linear(bright(image=img)["image"]).mean()


@pytest.mark.parametrize("kwargs", [
    {"exposure_range": (0.0, 0.5)}, {"exposure_range": (0.5, 0.2)}, {"shot_noise_range": (-1, 0.1)},
    {"gain_recovery_range": (0, 2)},
])
def test_invalid_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        PoissonGaussianNoise(**kwargs, strict=True)


def test_vignetting_darkens_corners_more_with_strength():
    img = flat_image(200, 160, 120)
    mild = Vignetting(strength_range=(0.3, 0.3), center_jitter=0, p=1)(image=img)["image"].astype(float)
    strong = Vignetting(strength_range=(1.0, 1.0), center_jitter=0, p=1)(image=img)["image"].astype(float)
    for out in (mild, strong):
        assert out[60, 80].mean() == pytest.approx(200, abs=2)
        assert out[0, 0].mean() < out[60, 80].mean()
    assert strong[0, 0].mean() < mild[0, 0].mean() - 20
    # cos^4 law at full strength: the corner gets a quarter of the centre's linear light.
    assert _linear(strong[0:1, 0:1].astype(np.uint8)).mean() == pytest.approx(0.25 * _linear(img[:1, :1]).mean(), rel=0.08)
