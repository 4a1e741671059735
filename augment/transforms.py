"""Camera-sensor transforms of our own, as albumentations ``ImageOnlyTransform`` subclasses.

They plug into ``A.Compose`` and the recipe registry exactly like the library's transforms, with a
pydantic ``InitSchema`` so recipes that use them are validated the same way.

:class:`PoissonGaussianNoise` is the low-light sensor model of Brooks et al. 2019, "Unprocessing
Images for Learned Raw Denoising" (CVPR): the image is taken back to linear light (inverse sRGB
curve), the exposure drops, the sensor adds signal-dependent shot noise and signal-independent read
noise -- a heteroscedastic Gaussian approximation of Poisson-Gaussian noise with
``variance = shot * x + read`` -- the camera applies digital gain, clips, and re-encodes with the
sRGB curve. The noise levels are drawn as in the paper from ranges fitted to real phone sensors:
``log(shot) ~ U(log 1e-4, log 0.012)`` and ``log(read) = 2.18 * log(shot) + 1.20 + N(0, 0.26)``.
As in the paper, the noise is added where a sensor makes it: on the raw Bayer mosaic in the camera's
own colour space, before white balance. The image goes to camera RGB (a random blend of four real
cameras' colour matrices), white balance is undone (red and blue gains from the paper's ranges), one
colour per pixel is kept (RGGB), and after the noise the camera demosaics (bilinear), white-balances
and converts back to sRGB. That is what makes phone noise look like phone noise: the colour matrix's
negative terms and the red/blue gains amplify it and turn it into chroma noise, and demosaicing
spreads it over neighbouring pixels. ``camera_pipeline=False`` adds the same noise per sRGB pixel
instead (the simpler model, and the one for images that are not 3-channel).

:class:`Vignetting` is the radial light fall-off of small, cheap lenses (cos^4 law plus the
mechanical vignetting of a short lens barrel), which albumentations 2.0.8 does not provide.

Both are vectorised numpy over lookup tables: no per-pixel Python and no ``pow`` on the full frame.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Annotated, Any

import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform
from pydantic import AfterValidator

# Brooks et al. 2019, section 3.2 / their released code (random_noise_levels).
SHOT_NOISE_RANGE = (1e-4, 0.012)
READ_NOISE_SLOPE = 2.18
READ_NOISE_INTERCEPT = 1.20
READ_NOISE_STD = 0.26
# XYZ -> camera matrices of four cameras and the white-balance gain ranges, from the paper's code
# (random_ccm, random_gains); sRGB (D65) -> XYZ is the standard matrix.
XYZ_TO_CAMERAS = np.array([
    [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
    [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
    [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
    [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
])
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
RED_GAIN_RANGE = (1.9, 2.4)
BLUE_GAIN_RANGE = (1.5, 1.9)

# Linear light is quantised to this many levels before the sRGB re-encoding table; one level is
# 0.05 of an 8-bit step even in the steepest (darkest) part of the curve.
_LINEAR_LEVELS = 65535


# Standard normal deviates by inverse CDF at the 65,536 mid-quantiles: a 16-bit draw from the
# generator indexes the table. Three times faster than ``Generator.standard_normal`` for a full
# frame; the tails are cut at +-4.3 sigma (variance 0.99999), far below what an 8-bit image shows.
_inv_cdf = NormalDist().inv_cdf
_GAUSS_LUT = np.array([_inv_cdf((i + 0.5) / 65536) for i in range(65536)], dtype=np.float32)  # ~20 ms, once


class _Scratch(threading.local):
    """Per-thread work buffers, reused across calls of the same frame size.

    Fresh multi-megabyte arrays are page-faulted in on every call (the allocator hands big blocks
    back to the system); for a 640x480 frame that costs about as much as the arithmetic itself.
    """

    def __init__(self) -> None:
        self.buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        key = (name, shape, np.dtype(dtype).str)
        buf = self.buffers.get(key)
        if buf is None:
            if len(self.buffers) > 16:  # many frame sizes in one process: start over
                self.buffers.clear()
            buf = self.buffers[key] = np.empty(shape, dtype=dtype)
        return buf


_scratch = _Scratch()


def standard_normal_fast(rng: np.random.Generator, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """float32 standard normal noise of ``shape``, deterministic for the generator's state."""
    n = int(np.prod(shape))
    raw = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n].reshape(shape)
    if out is None:
        return np.take(_GAUSS_LUT, raw)
    return np.take(_GAUSS_LUT, raw, out=out, mode="clip")


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


# uint8 sRGB -> float32 linear, and quantised linear -> uint8 sRGB.
_DECODE_LUT = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_ENCODE_LUT = np.clip(
    np.round(_linear_to_srgb(np.arange(_LINEAR_LEVELS + 1, dtype=np.float64) / _LINEAR_LEVELS) * 255.0), 0, 255
).astype(np.uint8)


def _ordered_range(low: float, high: float, what: str) -> None:
    if low > high:
        raise ValueError(f"{what}: the first value must not exceed the second, got ({low}, {high}).")


def _unit_interval_pair(value: tuple[float, float]) -> tuple[float, float]:
    low, high = float(value[0]), float(value[1])
    if not (0 < low <= 1 and 0 < high <= 1):
        raise ValueError(f"values must lie in (0, 1], got ({low}, {high})")
    _ordered_range(low, high, "range")
    return low, high


def _positive_pair(value: tuple[float, float]) -> tuple[float, float]:
    low, high = float(value[0]), float(value[1])
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"values must be positive, got ({low}, {high})")
    _ordered_range(low, high, "range")
    return low, high


def _fraction_pair(value: tuple[float, float]) -> tuple[float, float]:
    low, high = float(value[0]), float(value[1])
    if not (0 <= low <= 1 and 0 <= high <= 1):
        raise ValueError(f"values must lie in [0, 1], got ({low}, {high})")
    _ordered_range(low, high, "range")
    return low, high


def _non_negative(value: float) -> float:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"must be a finite number >= 0, got {value}")
    return float(value)


def _to_float01(img: np.ndarray) -> tuple[np.ndarray, bool]:
    """uint8 in, linear float32 out via the table; float images are taken as sRGB in [0, 1]."""
    if img.dtype == np.uint8:
        return _DECODE_LUT[img], True
    return _srgb_to_linear(np.clip(img, 0, 1).astype(np.float32)).astype(np.float32), False


def _encode(linear: np.ndarray, as_uint8: bool) -> np.ndarray:
    np.clip(linear, 0.0, 1.0, out=linear)
    if as_uint8:
        linear *= _LINEAR_LEVELS
        linear += 0.5
        return _ENCODE_LUT[linear.astype(np.uint16)]
    return _linear_to_srgb(linear).astype(np.float32)


def srgb_to_camera(weights: Sequence[float]) -> np.ndarray:
    """The convex blend of the four cameras' colour matrices by ``weights`` (linear sRGB -> camera
    RGB), rows normalised so that grey stays grey, as in the paper."""
    w = np.asarray(weights, dtype=np.float64)
    matrix = np.tensordot(w / w.sum(), XYZ_TO_CAMERAS, axes=1) @ SRGB_TO_XYZ
    return matrix / matrix.sum(axis=1, keepdims=True)


# The transform draws its camera from this many blends, made once with uniform weights as the paper
# draws them: a blend and its inverse cost ~25 us, more than the rest of a 32 px frame's noise.
_CAMERA_BLENDS = 64
_BLENDS = np.stack([srgb_to_camera(w) for w in np.random.default_rng(2019).random((_CAMERA_BLENDS, 4))])
_BLEND_INVERSES = np.linalg.inv(_BLENDS)


@dataclass(frozen=True)
class CameraColour:
    """A camera's colour pipeline: sRGB -> raw (colour matrix, white balance undone) and back."""

    to_raw: np.ndarray  # 3x3, linear sRGB -> white-balance-free camera RGB
    from_raw: np.ndarray  # 3x3, camera RGB -> white-balanced linear sRGB (the inverse)

    @classmethod
    def of(cls, matrix: np.ndarray, red_gain: float, blue_gain: float, inverse: np.ndarray | None = None) -> CameraColour:
        """The pipeline of a camera with colour ``matrix`` (from :func:`srgb_to_camera`) under
        these white-balance gains."""
        balance = np.array([red_gain, 1.0, blue_gain])
        inverse = np.linalg.inv(matrix) if inverse is None else inverse
        return cls((matrix / balance[:, None]).astype(np.float32), (inverse * balance[None, :]).astype(np.float32))

    @classmethod
    def drawn(cls, blend: int, red_gain: float, blue_gain: float) -> CameraColour:
        """One of the transform's pre-made camera blends (``blend`` modulo their number)."""
        i = int(blend) % _CAMERA_BLENDS
        return cls.of(_BLENDS[i], red_gain, blue_gain, _BLEND_INVERSES[i])


_SCRATCH_MIN_PIXELS = 256 * 256  # below this, fresh arrays cost less than the buffer lookups


def _raw_noise(img: np.ndarray, *, exposure: float, gain: float, shot_noise: float, read_noise: float,
               rng: np.random.Generator, camera: CameraColour) -> np.ndarray:
    """The sensor model on the raw mosaic (see the module doc); same dtype and shape out."""
    h, w = img.shape[:2]
    reuse = h * w >= _SCRATCH_MIN_PIXELS

    def buffer(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return _scratch.get(name, shape, dtype) if reuse else np.empty(shape, dtype)

    as_uint8 = img.dtype == np.uint8
    linear = buffer("linear3", img.shape, np.float32)
    if as_uint8:  # the decoding table straight into the buffer: no fresh frame-sized array
        np.take(_DECODE_LUT, img, out=linear, mode="clip")
    else:
        linear[...] = _to_float01(img)[0]
    # To camera RGB with white balance undone, and the exposure drop, in one 3x3 matrix.
    camera_rgb = cv2.transform(linear, camera.to_raw * np.float32(exposure), dst=buffer("camera3", img.shape, np.float32))
    # The mosaic: one colour per pixel, RGGB (red top-left).
    raw = buffer("raw", (h, w), np.float32)
    raw[0::2, 0::2] = camera_rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = camera_rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = camera_rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = camera_rgb[1::2, 1::2, 2]
    np.core.umath.clip(raw, 0.0, exposure, out=raw)  # the sensor saturates (at full scale, before the drop)
    std = np.multiply(raw, np.float32(shot_noise), out=buffer("raw_std", (h, w), np.float32))
    std += np.float32(read_noise)
    np.sqrt(std, out=std)
    noise = standard_normal_fast(rng, (h, w), out=buffer("raw_noise", (h, w), np.float32))
    noise *= std
    raw += noise
    raw *= np.float32(gain * _LINEAR_LEVELS)
    raw += np.float32(0.5)
    np.core.umath.clip(raw, 0.0, float(_LINEAR_LEVELS), out=raw)
    counts = buffer("raw_u16", (h, w), np.uint16)
    counts[...] = raw
    # Bilinear demosaicing, then white balance and the colour matrix back to sRGB, on 16 bits
    # (cv2 saturates below 0 and above 65535: the clipping a camera does).
    demosaiced = cv2.cvtColor(counts, cv2.COLOR_BayerRGGB2RGB, dst=buffer("demosaiced", img.shape, np.uint16))
    balanced = cv2.transform(demosaiced, camera.from_raw, dst=buffer("balanced", img.shape, np.uint16))
    if as_uint8:
        return np.take(_ENCODE_LUT, balanced)
    return _encode(balanced.astype(np.float32) / np.float32(_LINEAR_LEVELS), False)


def poisson_gaussian_noise(
    img: np.ndarray,
    *,
    exposure: float,
    gain: float,
    shot_noise: float,
    read_noise: float,
    rng: np.random.Generator,
    camera: CameraColour | None = None,
) -> np.ndarray:
    """Apply the sensor model with fixed parameters (``read_noise`` and ``shot_noise`` are variances).

    With ``camera`` the noise is made on the raw mosaic of that camera (3-channel images only);
    without it, per sRGB pixel. Returns an image of the same dtype and shape. Separate from the
    transform so the corruption suite and the tests can use exact levels.
    """
    if camera is not None and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 2:
        return _raw_noise(img, exposure=exposure, gain=gain, shot_noise=shot_noise, read_noise=read_noise,
                          rng=rng, camera=camera)
    if img.dtype != np.uint8:
        signal, _ = _to_float01(img)
        signal *= np.float32(exposure)
        noise = standard_normal_fast(rng, signal.shape)
        noise *= np.sqrt(signal * np.float32(shot_noise) + np.float32(read_noise))
        signal += noise
        signal *= np.float32(gain)
        return _encode(signal, False)
    shape = img.shape
    signal = _scratch.get("signal", shape, np.float32)
    std = _scratch.get("std", shape, np.float32)
    noise = _scratch.get("noise", shape, np.float32)
    index = _scratch.get("index", shape, np.uint16)
    # Exposure folded into the 256-entry decoding table: one pass gives the sensor signal.
    np.take((_DECODE_LUT * np.float32(exposure)).astype(np.float32), img, out=signal, mode="clip")
    # Heteroscedastic Gaussian approximation of Poisson (shot) + Gaussian (read) noise.
    np.multiply(signal, np.float32(shot_noise), out=std)
    std += np.float32(read_noise)
    np.sqrt(std, out=std)
    standard_normal_fast(rng, shape, out=noise)
    noise *= std
    signal += noise
    # Digital gain, quantisation to the table's levels and clipping in one go, then sRGB.
    signal *= np.float32(gain * _LINEAR_LEVELS)
    signal += np.float32(0.5)
    np.clip(signal, 0.0, float(_LINEAR_LEVELS), out=signal)
    index[...] = signal
    return np.take(_ENCODE_LUT, index)


def sample_noise_levels(rng: np.random.Generator, shot_range: tuple[float, float] = SHOT_NOISE_RANGE) -> tuple[float, float]:
    """Draw (shot, read) noise variances as Brooks et al. 2019 do for phone sensors."""
    log_shot = rng.uniform(math.log(shot_range[0]), math.log(shot_range[1]))
    log_read = READ_NOISE_SLOPE * log_shot + READ_NOISE_INTERCEPT + rng.normal(0.0, READ_NOISE_STD)
    return math.exp(log_shot), math.exp(log_read)


def read_noise_for(shot_noise: float) -> float:
    """The read-noise variance the paper's fit predicts for a shot-noise level (no scatter)."""
    return math.exp(READ_NOISE_SLOPE * math.log(shot_noise) + READ_NOISE_INTERCEPT)


class PoissonGaussianNoise(ImageOnlyTransform):
    """Low-light phone sensor: exposure drop in linear light, shot + read noise, gain, sRGB.

    Args:
        exposure_range: fraction of the light that reaches the sensor, drawn uniformly
            (1 = as photographed, 0.1 = a scene ten times darker).
        shot_noise_range: bounds of the shot-noise variance, drawn log-uniformly; the default is
            the phone-sensor range of Brooks et al. 2019. Read noise follows from it by the
            paper's log-linear fit with its Gaussian scatter.
        gain_recovery_range: how much of the exposure drop the camera's digital gain (ISO) undoes:
            0 leaves the frame dark, 1 restores its brightness and amplifies the noise with it.
        camera_pipeline: add the noise on the raw mosaic of a random camera (colour matrix, white
            balance, demosaicing; see the module doc), as real sensors do; False adds it per sRGB pixel.
        p: probability of applying the transform.
    """

    class InitSchema(BaseTransformInitSchema):
        exposure_range: Annotated[tuple[float, float], AfterValidator(_unit_interval_pair)]
        shot_noise_range: Annotated[tuple[float, float], AfterValidator(_positive_pair)]
        gain_recovery_range: Annotated[tuple[float, float], AfterValidator(_fraction_pair)]
        camera_pipeline: bool

    def __init__(
        self,
        exposure_range: tuple[float, float] = (0.1, 0.5),
        shot_noise_range: tuple[float, float] = SHOT_NOISE_RANGE,
        gain_recovery_range: tuple[float, float] = (0.5, 1.0),
        camera_pipeline: bool = True,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.exposure_range = exposure_range
        self.shot_noise_range = shot_noise_range
        self.gain_recovery_range = gain_recovery_range
        self.camera_pipeline = camera_pipeline

    def get_params(self) -> dict[str, Any]:
        shot, read = sample_noise_levels(self.random_generator, tuple(self.shot_noise_range))
        exposure = self.py_random.uniform(*self.exposure_range)
        recovery = self.py_random.uniform(*self.gain_recovery_range)
        camera = None
        if self.camera_pipeline:
            camera = CameraColour.drawn(self.py_random.randrange(_CAMERA_BLENDS),
                                        self.py_random.uniform(*RED_GAIN_RANGE), self.py_random.uniform(*BLUE_GAIN_RANGE))
        return {
            "exposure": exposure,
            "gain": exposure ** (-recovery),
            "shot_noise": shot,
            "read_noise": read,
            "camera": camera,
        }

    def apply(self, img: np.ndarray, exposure: float, gain: float, shot_noise: float, read_noise: float,
              camera: CameraColour | None = None, **params: Any) -> np.ndarray:
        # The noise comes from the transform's own generator, which the Compose seeds: as reproducible
        # as a generator made per call from a drawn seed, and ~11 us cheaper on a small frame.
        return poisson_gaussian_noise(
            img, exposure=exposure, gain=gain, shot_noise=shot_noise, read_noise=read_noise,
            rng=self.random_generator, camera=camera,
        )

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("exposure_range", "shot_noise_range", "gain_recovery_range", "camera_pipeline")


def vignetting(img: np.ndarray, *, strength: float, center: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """Darken towards the corners in linear light: gain = (1 - strength) + strength * cos^4(field angle)."""
    h, w = img.shape[:2]
    cy, cx = center[1] * (h - 1), center[0] * (w - 1)
    ys = (np.arange(h, dtype=np.float32) - cy) ** 2
    xs = (np.arange(w, dtype=np.float32) - cx) ** 2
    r2 = ys[:, None] + xs[None, :]
    r2 /= max(float(r2.max()), 1e-6)
    # cos^4 of the field angle for a lens whose corner ray is at 45 degrees, blended by strength.
    falloff = 1.0 / (1.0 + r2) ** 2
    gain = (1.0 - strength) + strength * falloff
    linear, as_uint8 = _to_float01(img)
    linear *= gain[..., None] if linear.ndim == 3 else gain
    return _encode(linear, as_uint8)


class Vignetting(ImageOnlyTransform):
    """Radial light fall-off of a cheap, short lens: corners darker than the centre.

    Args:
        strength_range: blend between no fall-off (0) and the full cos^4 law (1), drawn uniformly.
            At 1 the corners receive a quarter of the centre's light.
        center_jitter: how far (fraction of the size) the optical centre may sit off the image
            centre, as on a sensor glued slightly off-axis.
        p: probability of applying the transform.
    """

    class InitSchema(BaseTransformInitSchema):
        strength_range: Annotated[tuple[float, float], AfterValidator(_fraction_pair)]
        center_jitter: Annotated[float, AfterValidator(_non_negative)]

    def __init__(self, strength_range: tuple[float, float] = (0.3, 0.8), center_jitter: float = 0.05, p: float = 0.5):
        super().__init__(p=p)
        self.strength_range = strength_range
        self.center_jitter = center_jitter

    def get_params(self) -> dict[str, Any]:
        j = min(self.center_jitter, 0.5)
        return {
            "strength": self.py_random.uniform(*self.strength_range),
            "center": (0.5 + self.py_random.uniform(-j, j), 0.5 + self.py_random.uniform(-j, j)),
        }

    def apply(self, img: np.ndarray, strength: float, center: tuple[float, float], **params: Any) -> np.ndarray:
        return vignetting(img, strength=strength, center=center)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("strength_range", "center_jitter")


CUSTOM_TRANSFORMS: dict[str, type[ImageOnlyTransform]] = {
    "PoissonGaussianNoise": PoissonGaussianNoise,
    "Vignetting": Vignetting,
}
