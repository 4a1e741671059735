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
    CameraColour,
    PoissonGaussianNoise,
    Vignetting,
    _srgb_to_linear,
    poisson_gaussian_noise,
    read_noise_for,
    sample_noise_levels,
    srgb_to_camera,
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


# --- the raw-domain path (camera colour pipeline) ------------------------------------------------
CAMERA = CameraColour.of(srgb_to_camera([1, 1, 1, 1]), red_gain=2.2, blue_gain=1.7)


def _camera_noise(img, *, shot=0.004, exposure=1.0, camera=CAMERA, seed=0):
    return poisson_gaussian_noise(img, exposure=exposure, gain=1 / exposure, shot_noise=shot,
                                  read_noise=read_noise_for(shot), rng=np.random.default_rng(seed), camera=camera)


def test_camera_pipeline_without_noise_gives_the_image_back():
    # Colour matrix, white balance, mosaic and demosaicing undo each other on a smooth image, up to
    # the interpolation error of demosaicing on colour gradients (which the colour matrix amplifies).
    img = smooth_image(128, 96)
    for dtype_img in (img, img.astype(np.float32) / 255):
        out = poisson_gaussian_noise(dtype_img, exposure=1.0, gain=1.0, shot_noise=1e-12, read_noise=1e-12,
                                     rng=np.random.default_rng(0), camera=CAMERA)
        assert out.dtype == dtype_img.dtype and out.shape == img.shape
        back = out if out.dtype == np.uint8 else np.round(out * 255)
        error = np.abs(back.astype(float) - img)[2:-2, 2:-2]
        assert error.mean() < 0.6 and np.percentile(error, 99) <= 3


def test_camera_pipeline_amplifies_red_and_blue_and_spreads_noise_to_neighbours():
    img = flat_image(128, 128, 128)
    raw_domain = _linear(_camera_noise(img))
    per_pixel = _linear(_camera_noise(img, camera=None))
    assert raw_domain.mean() == pytest.approx(per_pixel.mean(), rel=0.05)  # grey stays grey on average
    std = raw_domain.std(axis=(0, 1))
    # White balance gains (2.2, 1.7) and the colour matrix amplify the noise, red the most; the
    # per-pixel model's three channels are alike.
    alike = per_pixel.std(axis=(0, 1))
    assert alike.max() < 1.05 * alike.min()
    assert std[0] > 1.5 * std[1] and std[2] > 1.1 * std[1]
    assert std[0] > 1.7 * alike[0] and std[2] > 1.3 * alike[2]

    def neighbour_correlation(image):
        noise = image[..., 0] - image[..., 0].mean()
        return float((noise[:, :-1] * noise[:, 1:]).mean() / noise.var())

    # Bilinear demosaicing fills each pixel from its neighbours: the noise is no longer independent.
    assert neighbour_correlation(raw_domain) > 0.3
    assert abs(neighbour_correlation(per_pixel)) < 0.05


def test_camera_pipeline_is_seeded_and_falls_back_where_no_mosaic_fits():
    img = smooth_image(64, 48)
    assert np.array_equal(_camera_noise(img, seed=3), _camera_noise(img, seed=3))
    assert not np.array_equal(_camera_noise(img, seed=3), _camera_noise(img, seed=4))
    for odd in (smooth_image(1, 9), flat_image(100, 8, 8)[..., 0]):  # one row; one channel
        out = _camera_noise(odd)
        assert out.shape == odd.shape and out.dtype == np.uint8


def test_transform_draws_a_camera_unless_told_not_to():
    img = flat_image(120, 64, 64)
    pinned = {"exposure_range": (0.2, 0.2), "shot_noise_range": (0.004, 0.004), "gain_recovery_range": (1, 1), "p": 1}
    on, off = PoissonGaussianNoise(**pinned), PoissonGaussianNoise(**pinned, camera_pipeline=False)
    on.set_random_seed(0)
    off.set_random_seed(0)
    assert isinstance(on.get_params()["camera"], CameraColour) and off.get_params()["camera"] is None
    red_over_green = []
    for t in (on, off):
        out = t(image=img)["image"].astype(float)
        red_over_green.append(float(out[..., 0].std() / out[..., 1].std()))
    assert red_over_green[0] > 1.3 and red_over_green[1] < 1.1
    with pytest.raises(ValueError):
        PoissonGaussianNoise(camera_pipeline="sometimes", strict=True)


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
