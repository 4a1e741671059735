"""Built-in device profiles: named recipes grounded in how phone and IoT cameras fail.

Each profile has two faces:

- ``spec``: a training recipe with *random* ranges (what a model should learn to shrug off),
  cloned into a project's recipes and edited from there;
- ``corruption(severity)``: a recipe for the corruption suite, severity 1 (mild) to 5 (severe),
  in the spirit of ImageNet-C (Hendrycks & Dietterich 2019): every transform applies (``p = 1``)
  and its strength is pinned to a level that grows with severity, so "severity 3" means the same
  thing on every image and in every run. The levels per severity are listed in ``levels`` and in
  the API, so a robustness report can say exactly what was done.

Physics behind the choices:

- *Noise*: small phone and IoT pixels collect few photons; shot noise grows with the signal,
  read noise does not (Poisson-Gaussian, Foi et al. 2008; Brooks et al. 2019 for the phone
  ranges used by :class:`augment.transforms.PoissonGaussianNoise`). It is made on the raw Bayer
  mosaic and then goes through the camera's demosaicing, white balance and colour matrix, which
  amplify it and turn it into the blotchy chroma noise of a phone shot at night.
- *Compression*: phone ISPs encode at JPEG quality 80-95; IoT cameras and video streams go to
  20-60 to save bandwidth, and blocking grows as quality drops.
- *Blur*: longer exposures in dim light and vehicle motion smear along the motion direction
  (MotionBlur); cheap fixed-focus lenses and missed autofocus give disc-shaped defocus (Defocus).
- *Colour*: tungsten bulbs (~2700-3200 K) under a white balance set for daylight give a warm cast
  (PlanckianJitter in black-body mode, which albumentations lets span 3000 K to 15000 K).
- *Cheap optics*: corner fall-off (cos^4 law, our Vignetting), lateral chromatic aberration
  (ChromaticAberration) and barrel distortion (OpticalDistortion) of small plastic lenses.
- *Rolling shutter*: CMOS sensors read rows one after the other, so horizontal motion during
  readout shears the frame; a horizontal Affine shear is its first-order model (dashcam).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .transforms import SHOT_NOISE_RANGE

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Profile:
    slug: str
    name: str
    simulates: str  # the camera failure
    rationale: str  # why these parameter ranges
    spec: dict
    levels: dict  # what grows with severity: name -> the 5 values
    corruption: Callable[[int], dict]

    def as_dict(self) -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "simulates": self.simulates,
            "rationale": self.rationale,
            "spec": self.spec,
            "severity_levels": self.levels,
        }


def _pick(levels: dict, severity: int) -> dict:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1 to 5, got {severity!r}")
    return {name: values[severity - 1] for name, values in levels.items()}


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


# --- phone in daylight ---------------------------------------------------------------------------
PHONE_DAYLIGHT_LEVELS = {
    "iso_noise_intensity": [0.05, 0.1, 0.15, 0.22, 0.3],
    "jpeg_quality": [90, 80, 70, 60, 50],
    "motion_blur_kernel": [3, 3, 5, 5, 7],
    "brightness_shift": [0.05, 0.08, 0.12, 0.16, 0.2],
}


def _phone_daylight(severity: int) -> dict:
    v = _pick(PHONE_DAYLIGHT_LEVELS, severity)
    b = v["brightness_shift"]
    k = v["motion_blur_kernel"]
    return {"transforms": [
        {"name": "RandomBrightnessContrast", "params": {"brightness_limit": [b, b], "contrast_limit": [0, 0]}, "p": 1},
        {"name": "MotionBlur", "params": {"blur_limit": [k, k]}, "p": 1},
        {"name": "ISONoise", "params": {"color_shift": [0.01, 0.01], "intensity": [v["iso_noise_intensity"]] * 2}, "p": 1},
        {"name": "ImageCompression", "params": {"quality_range": [v["jpeg_quality"]] * 2}, "p": 1},
    ]}


# --- phone in low light ----------------------------------------------------------------------------
# Shot-noise variance log-spaced across the Brooks et al. phone range (1e-4 .. 0.012).
_SHOT_LEVELS = [round(math.exp(v), 6) for v in (
    math.log(SHOT_NOISE_RANGE[0]) + (math.log(SHOT_NOISE_RANGE[1]) - math.log(SHOT_NOISE_RANGE[0])) * t
    for t in (0.2, 0.4, 0.6, 0.8, 1.0)
)]
# The dimmer the scene, the longer the exposure and the longer the hand-shake smear: the kernels span
# the training spec's 3-9 px. Blur comes first because it happens while light reaches the sensor;
# the sensor's noise is added to the blurred image, and the ISP compresses the noisy one.
PHONE_LOW_LIGHT_LEVELS = {
    "exposure": [0.5, 0.3, 0.2, 0.12, 0.07],
    "shot_noise": _SHOT_LEVELS,
    "motion_blur_kernel": [3, 3, 5, 7, 9],
    "jpeg_quality": [90, 80, 70, 60, 50],
}


def _phone_low_light(severity: int) -> dict:
    v = _pick(PHONE_LOW_LIGHT_LEVELS, severity)
    k = v["motion_blur_kernel"]
    return {"transforms": [
        {"name": "MotionBlur", "params": {"blur_limit": [k, k]}, "p": 1},
        {"name": "PoissonGaussianNoise", "params": {
            "exposure_range": [v["exposure"]] * 2, "shot_noise_range": [v["shot_noise"]] * 2,
            "gain_recovery_range": [1.0, 1.0], "camera_pipeline": True}, "p": 1},
        {"name": "ImageCompression", "params": {"quality_range": [v["jpeg_quality"]] * 2}, "p": 1},
    ]}


# --- low-resolution IoT camera ------------------------------------------------------------------------
IOT_LEVELS = {
    "downscale": [0.7, 0.5, 0.4, 0.3, 0.2],
    "jpeg_quality": [60, 45, 30, 20, 10],
    "gauss_noise_std": [0.01, 0.02, 0.04, 0.06, 0.08],
}


# A sensor bins light over its (larger) pixels -- area averaging -- and the stream is upscaled bilinearly.
_AREA_LINEAR = {"downscale": 3, "upscale": 1}  # cv2.INTER_AREA, cv2.INTER_LINEAR


def _iot_low_res(severity: int) -> dict:
    v = _pick(IOT_LEVELS, severity)
    return {"transforms": [
        {"name": "Downscale", "params": {"scale_range": [v["downscale"]] * 2, "interpolation_pair": _AREA_LINEAR}, "p": 1},
        {"name": "GaussNoise", "params": {"std_range": [v["gauss_noise_std"]] * 2}, "p": 1},
        {"name": "ImageCompression", "params": {"quality_range": [v["jpeg_quality"]] * 2}, "p": 1},
    ]}


# --- dashcam with motion ----------------------------------------------------------------------------
DASHCAM_LEVELS = {
    "motion_blur_kernel": [5, 9, 13, 17, 21],
    "rolling_shutter_shear_deg": [2, 4, 6, 8, 10],
    "jpeg_quality": [80, 70, 60, 50, 40],
}


def _dashcam_motion(severity: int) -> dict:
    v = _pick(DASHCAM_LEVELS, severity)
    k, s = _odd(v["motion_blur_kernel"]), v["rolling_shutter_shear_deg"]
    return {"transforms": [
        {"name": "Affine", "params": {"shear": {"x": [s, s], "y": [0, 0]}}, "p": 1},
        {"name": "MotionBlur", "params": {"blur_limit": [k, k], "angle_range": [0, 15]}, "p": 1},
        {"name": "ImageCompression", "params": {"quality_range": [v["jpeg_quality"]] * 2}, "p": 1},
    ]}


# --- indoor tungsten light --------------------------------------------------------------------------
TUNGSTEN_LEVELS = {
    "lowest_colour_temperature_k": [5000, 4500, 4000, 3500, 3000],
    "iso_noise_intensity": [0.1, 0.15, 0.2, 0.3, 0.4],
    "gamma": [110, 120, 130, 140, 150],
}


def _indoor_tungsten(severity: int) -> dict:
    v = _pick(TUNGSTEN_LEVELS, severity)
    t, g = v["lowest_colour_temperature_k"], v["gamma"]
    return {"transforms": [
        # albumentations requires the range to include white (6000 K); the lower end sets how warm.
        {"name": "PlanckianJitter", "params": {"mode": "blackbody", "temperature_limit": [t, 6000]}, "p": 1},
        {"name": "RandomGamma", "params": {"gamma_limit": [g, g]}, "p": 1},
        {"name": "ISONoise", "params": {"color_shift": [0.02, 0.02], "intensity": [v["iso_noise_intensity"]] * 2}, "p": 1},
    ]}


# --- cheap lens ---------------------------------------------------------------------------------------
CHEAP_LENS_LEVELS = {
    "vignetting_strength": [0.2, 0.4, 0.6, 0.8, 1.0],
    "chromatic_aberration": [0.01, 0.02, 0.03, 0.04, 0.05],
    "barrel_distortion": [0.05, 0.1, 0.15, 0.2, 0.3],
    "defocus_radius": [1, 2, 3, 4, 5],
}


def _cheap_lens(severity: int) -> dict:
    v = _pick(CHEAP_LENS_LEVELS, severity)
    ca, d, r = v["chromatic_aberration"], v["barrel_distortion"], v["defocus_radius"]
    return {"transforms": [
        {"name": "OpticalDistortion", "params": {"distort_limit": [-d, -d], "mode": "camera"}, "p": 1},
        {"name": "Defocus", "params": {"radius": [r, r], "alias_blur": [0.1, 0.1]}, "p": 1},
        {"name": "ChromaticAberration", "params": {
            "primary_distortion_limit": [ca, ca], "secondary_distortion_limit": [ca, ca], "mode": "red_blue"}, "p": 1},
        {"name": "Vignetting", "params": {"strength_range": [v["vignetting_strength"]] * 2, "center_jitter": 0}, "p": 1},
    ]}


PROFILES: dict[str, Profile] = {
    p.slug: p
    for p in (
        Profile(
            slug="phone-daylight",
            name="Phone in daylight",
            simulates="A modern phone outdoors: plenty of light, but auto-exposure swings, base-ISO colour "
            "noise, a little hand shake, and the ISP's JPEG encoding.",
            rationale="Phone ISPs encode at JPEG quality ~75-95; at base ISO the noise is faint colour noise "
            "(ISONoise intensity <= 0.15); auto-exposure errs by about a third of a stop (brightness and gamma "
            "within +-10%); at daylight shutter speeds hand shake smears at most a few pixels (3-5 px kernels). "
            "Framing varies: small rotations (+-5 deg), scale (0.9-1.1) and mirror images.",
            spec={"transforms": [
                {"name": "HorizontalFlip", "p": 0.5},
                {"name": "Affine", "params": {"rotate": [-5, 5], "scale": [0.9, 1.1],
                                              "translate_percent": [-0.05, 0.05]}, "p": 0.5},
                {"name": "RandomBrightnessContrast", "params": {"brightness_limit": [-0.1, 0.1],
                                                                "contrast_limit": [-0.1, 0.1]}, "p": 0.5},
                {"name": "RandomGamma", "params": {"gamma_limit": [90, 110]}, "p": 0.3},
                {"name": "ISONoise", "params": {"color_shift": [0.01, 0.02], "intensity": [0.05, 0.15]}, "p": 0.3},
                {"name": "MotionBlur", "params": {"blur_limit": [3, 5]}, "p": 0.1},
                {"name": "ImageCompression", "params": {"compression_type": "jpeg", "quality_range": [75, 95]}, "p": 0.7},
            ]},
            levels=PHONE_DAYLIGHT_LEVELS,
            corruption=_phone_daylight,
        ),
        Profile(
            slug="phone-low-light",
            name="Phone in low light",
            simulates="A phone at dusk or indoors at night: the exposure drops, the sensor's shot and read "
            "noise dominate, the ISP's digital gain brightens noise and signal alike, longer exposures shake, "
            "and noisy frames compress worse.",
            rationale="Exposure falls to 5-30% of the well-lit scene in linear light. Shot/read noise follow "
            "Brooks et al. 2019 (\"Unprocessing images\"), fitted on real phone sensors: log shot ~ U(log 1e-4, "
            "log 0.012), log read = 2.18 log shot + 1.20 + N(0, 0.26), added on the raw Bayer mosaic of a camera "
            "drawn as in the paper (blended colour matrices, red gain 1.9-2.4, blue 1.5-1.9) and then demosaiced, "
            "white-balanced and colour-corrected, which makes it chroma noise. The ISP undoes 60-100% of the drop with "
            "gain. Exposure times of 1/15-1/4 s give 3-9 px motion kernels (in the corruption suite the kernel "
            "grows with severity, as the exposure lengthens); JPEG quality 60-90.",
            spec={"transforms": [
                {"name": "HorizontalFlip", "p": 0.5},
                # Optics and shake blur the light before the sensor adds its noise.
                {"name": "MotionBlur", "params": {"blur_limit": [3, 9]}, "p": 0.4},
                {"name": "Defocus", "params": {"radius": [1, 3], "alias_blur": [0.1, 0.3]}, "p": 0.2},
                {"name": "PoissonGaussianNoise", "params": {
                    "exposure_range": [0.05, 0.3], "shot_noise_range": list(SHOT_NOISE_RANGE),
                    "gain_recovery_range": [0.6, 1.0], "camera_pipeline": True}, "p": 0.9},
                {"name": "ImageCompression", "params": {"compression_type": "jpeg", "quality_range": [60, 90]}, "p": 0.7},
            ]},
            levels=PHONE_LOW_LIGHT_LEVELS,
            corruption=_phone_low_light,
        ),
        Profile(
            slug="iot-low-res",
            name="Low-resolution IoT camera",
            simulates="A cheap networked camera (doorbell, shelf or farm camera): a small sensor upscaled to "
            "the stream size, strong read noise, aggressive JPEG/WebP compression to save bandwidth, and a "
            "monochrome infrared night mode.",
            rationale="Sensors of 0.3-1 MP behind 1080p streams mean 2-4x upscaling (Downscale 0.25-0.5). "
            "Bandwidth-bound encoders run at quality 20-60, where 8x8 blocking is visible. Small pixels give "
            "read noise of 2-8% of full scale (GaussNoise std_range 0.02-0.08). Night mode drops colour "
            "(ToGray, 10% of frames).",
            spec={"transforms": [
                {"name": "Downscale", "params": {"scale_range": [0.25, 0.5], "interpolation_pair": _AREA_LINEAR}, "p": 0.8},
                {"name": "GaussNoise", "params": {"std_range": [0.02, 0.08]}, "p": 0.6},
                {"name": "RandomBrightnessContrast", "params": {"brightness_limit": [-0.1, 0.1],
                                                                "contrast_limit": [-0.3, 0.0]}, "p": 0.5},
                {"name": "ToGray", "p": 0.1},
                {"name": "OneOf", "p": 0.9, "transforms": [
                    {"name": "ImageCompression", "params": {"compression_type": "jpeg", "quality_range": [20, 60]}},
                    {"name": "ImageCompression", "params": {"compression_type": "webp", "quality_range": [20, 60]}},
                ]},
            ]},
            levels=IOT_LEVELS,
            corruption=_iot_low_res,
        ),
        Profile(
            slug="dashcam-motion",
            name="Dashcam with motion",
            simulates="A camera in a moving vehicle: motion blur along the direction of travel, rolling-"
            "shutter skew from the row-by-row readout, vibration, and video-rate compression.",
            rationale="At 30 fps with 1/60-1/30 s exposures, image motion at road speeds spans 5-21 px "
            "(MotionBlur kernels, mostly horizontal: within 15 deg of the horizon). Row readout of ~20-30 ms shears "
            "a laterally moving scene by a few degrees (Affine shear in x, +-8 deg). Video encoders give "
            "quality ~40-80 per frame; brightness swings at tunnel exits.",
            spec={"transforms": [
                {"name": "OneOf", "p": 0.7, "transforms": [
                    {"name": "MotionBlur", "params": {"blur_limit": [5, 21], "angle_range": [0, 15]}},
                    {"name": "MotionBlur", "params": {"blur_limit": [5, 21], "angle_range": [165, 180]}},
                ]},
                {"name": "Affine", "params": {"shear": {"x": [-8, 8], "y": [0, 0]}, "rotate": [-3, 3]}, "p": 0.5},
                {"name": "ISONoise", "params": {"color_shift": [0.01, 0.03], "intensity": [0.1, 0.3]}, "p": 0.4},
                {"name": "RandomBrightnessContrast", "params": {"brightness_limit": [-0.25, 0.25],
                                                                "contrast_limit": [-0.2, 0.2]}, "p": 0.5},
                {"name": "ImageCompression", "params": {"compression_type": "jpeg", "quality_range": [40, 80]}, "p": 0.8},
            ]},
            levels=DASHCAM_LEVELS,
            corruption=_dashcam_motion,
        ),
        Profile(
            slug="indoor-tungsten",
            name="Indoor tungsten light",
            simulates="Incandescent or warm-white LED light with the white balance set for daylight: a warm "
            "orange cast, raised ISO colour noise and a flat, dim tone curve.",
            rationale="Tungsten sits at 2700-3200 K against the 5500-6500 K white balance a camera assumes "
            "outdoors; PlanckianJitter (black-body) spans 3000-6000 K (albumentations' lower bound, and it "
            "requires the range to include white). Indoor light levels push ISO up (ISONoise 0.1-0.4) and "
            "the tone curve darkens (gamma 100-140).",
            spec={"transforms": [
                {"name": "PlanckianJitter", "params": {"mode": "blackbody", "temperature_limit": [3000, 6000]}, "p": 0.8},
                {"name": "RandomGamma", "params": {"gamma_limit": [100, 140]}, "p": 0.5},
                {"name": "ISONoise", "params": {"color_shift": [0.01, 0.04], "intensity": [0.1, 0.4]}, "p": 0.6},
                {"name": "MotionBlur", "params": {"blur_limit": [3, 5]}, "p": 0.2},
                {"name": "HorizontalFlip", "p": 0.5},
            ]},
            levels=TUNGSTEN_LEVELS,
            corruption=_indoor_tungsten,
        ),
        Profile(
            slug="cheap-lens",
            name="Cheap lens",
            simulates="A small plastic lens: dark corners, colour fringes at edges, barrel distortion and "
            "soft focus.",
            rationale="Short, wide lenses follow the cos^4 law, losing up to ~75% of the light in the corners "
            "(Vignetting strength 0.3-0.9). Uncorrected lateral chromatic aberration shifts red and blue by "
            "1-5% of the radius. Barrel distortion of 5-30% is typical of wide fixed-focus modules; focus is "
            "off by 1-4 px of blur radius.",
            spec={"transforms": [
                {"name": "Vignetting", "params": {"strength_range": [0.3, 0.9], "center_jitter": 0.05}, "p": 0.7},
                {"name": "ChromaticAberration", "params": {"primary_distortion_limit": [-0.05, 0.05],
                                                           "secondary_distortion_limit": [-0.05, 0.05],
                                                           "mode": "random"}, "p": 0.5},
                {"name": "OpticalDistortion", "params": {"distort_limit": [-0.3, 0.0], "mode": "camera"}, "p": 0.5},
                {"name": "Defocus", "params": {"radius": [1, 4], "alias_blur": [0.1, 0.3]}, "p": 0.4},
                {"name": "HorizontalFlip", "p": 0.5},
            ]},
            levels=CHEAP_LENS_LEVELS,
            corruption=_cheap_lens,
        ),
    )
}


def profile_get(slug: str) -> Profile:
    """The profile named ``slug``; KeyError with the known names otherwise."""
    try:
        return PROFILES[slug]
    except KeyError:
        raise KeyError(f"Unknown profile {slug!r}; known: {', '.join(PROFILES)}.") from None


def corruption_spec(slug: str, severity: int) -> dict:
    """The fixed-strength recipe of profile ``slug`` at ``severity`` (1-5)."""
    return profile_get(slug).corruption(severity)
