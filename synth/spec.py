"""Job specs for the two generators: checking them, and drawing one scene per image from them.

A spec is plain JSON so that it can be stored on the job, sent to any worker and shown to people.
:func:`spec_clean` fills defaults and refuses absurd values (resolution 0, 10^9 images, min > max,
a class with no asset) before anything is queued. :func:`scene_sample` turns a spec, its seed and
an image index into a fully resolved scene description: the same inputs always give the same
scene, and that description is what an image's ``meta`` keeps, so any image can be rendered again
on its own. Nothing here imports Blender or Django models.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

GENERATORS = ("blender", "cutpaste")
BUILTIN_MODELS = ("cube", "sphere", "cylinder", "torus", "character")
# The character's keypoint empties, in this order; a label whose keypoint_names use these names
# gets keypoints from the built-in character.
CHARACTER_KEYPOINTS = ("nose", "left_hand", "right_hand", "left_foot", "right_foot")

MAX_COUNT = 100_000
MAX_SIDE = 4096
MAX_SAMPLES = 4096
MAX_OBJECTS = 50
MAX_LIGHTS = 8
MAX_SHARD_SIZE = 1000

# name: (default [min, max], lowest allowed, highest allowed)
BLENDER_RANGES: dict[str, tuple[list[float], float, float]] = {
    "camera_distance": ([4.0, 6.0], 0.1, 1000.0),
    "camera_elevation": ([10.0, 50.0], -89.0, 89.0),  # degrees above the ground
    "camera_azimuth": ([0.0, 360.0], -360.0, 720.0),  # degrees
    "focal_length": ([35.0, 50.0], 5.0, 500.0),  # mm on a 36 mm sensor
    "light_count": ([1, 3], 0, MAX_LIGHTS),
    "light_power": ([300.0, 1000.0], 0.0, 1e6),  # watts (point / area); suns use power / 200
    "light_temperature": ([3500.0, 7500.0], 1000.0, 40000.0),  # kelvin
    "hue_jitter": ([-0.05, 0.05], -0.5, 0.5),
    "roughness": ([0.2, 0.8], 0.0, 1.0),
    "object_scale": ([0.8, 1.2], 0.01, 100.0),
    "objects_per_image": ([1, 3], 1, MAX_OBJECTS),
    "distractors": ([0, 1], 0, MAX_OBJECTS),
}
INTEGER_RANGES = {"light_count", "objects_per_image", "distractors"}

CUTPASTE_RANGES: dict[str, tuple[list[float], float, float]] = {
    "objects_per_image": ([1, 4], 1, MAX_OBJECTS),
    "scale": ([0.3, 0.7], 0.01, 10.0),  # of the background's shorter side, for the cut-out's longer side
    "rotation": ([-30.0, 30.0], -180.0, 180.0),  # degrees
    "truncation": ([0.0, 0.3], 0.0, 0.9),  # at most this fraction of an object may leave the image
}
BLENDINGS = ("none", "gaussian", "poisson")


class SpecError(ValueError):
    """The spec cannot be run; ``errors`` maps each offending field to a sentence."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _int(value: Any, name: str, lo: int, hi: int, errors: dict) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        errors[name] = f"Must be a whole number, got {value!r}."
        return None
    if not lo <= int(value) <= hi:
        errors[name] = f"Must be between {lo:,} and {hi:,}, got {int(value):,}."
        return None
    return int(value)


def _range(spec: dict, name: str, default, lo: float, hi: float, integer: bool, errors: dict) -> list | None:
    value = spec.get(name, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    ):
        errors[name] = f"Must be [min, max] (two numbers), got {value!r}."
        return None
    low, high = (float(v) for v in value)
    if low > high:
        errors[name] = f"The minimum {low:g} is larger than the maximum {high:g}."
        return None
    if low < lo or high > hi:
        errors[name] = f"Must lie within [{lo:g}, {hi:g}], got [{low:g}, {high:g}]."
        return None
    if integer:
        if not (low.is_integer() and high.is_integer()):
            errors[name] = "Must be whole numbers."
            return None
        return [int(low), int(high)]
    return [low, high]


def spec_clean(spec: Any, *, labels: dict[int, dict], assets: dict[int, dict]) -> dict:
    """The spec with defaults filled in, or :class:`SpecError` naming every problem.

    ``labels`` maps the project's label ids to ``{"name", "keypoint_names"}``; ``assets`` maps
    the project's asset ids to ``{"kind", "label"}``. A class must have something to render: an
    uploaded model or cut-out of that label, a built-in model, or (cut-and-paste) masks already
    annotated in the project, which the caller checks.
    """
    if not isinstance(spec, dict):
        raise SpecError({"spec": "The spec must be a JSON object."})
    errors: dict[str, str] = {}
    generator = spec.get("generator", "blender")
    if generator not in GENERATORS:
        raise SpecError({"generator": f"Unknown generator {generator!r}; use one of {', '.join(GENERATORS)}."})
    out: dict[str, Any] = {"generator": generator}
    out["count"] = _int(spec.get("count", 10), "count", 1, MAX_COUNT, errors)
    resolution = spec.get("resolution", [640, 480])
    if not isinstance(resolution, (list, tuple)) or len(resolution) != 2:
        errors["resolution"] = f"Must be [width, height], got {resolution!r}."
    else:
        w = _int(resolution[0], "resolution", 8, MAX_SIDE, errors)
        h = _int(resolution[1], "resolution", 8, MAX_SIDE, errors) if w is not None else None
        out["resolution"] = [w, h]
    seed = spec.get("seed", 0)
    out["seed"] = _int(seed, "seed", 0, 2**32 - 1, errors)
    out["shard_size"] = _int(spec.get("shard_size", 25), "shard_size", 1, MAX_SHARD_SIZE, errors)

    classes = spec.get("classes")
    if not isinstance(classes, list) or not classes:
        errors["classes"] = "List at least one class: [{\"label\": <label id>, \"assets\": [...]}]."
        classes = []
    cleaned_classes = []
    for i, entry in enumerate(classes):
        key = f"classes[{i}]"
        if not isinstance(entry, dict) or entry.get("label") not in labels:
            errors[key] = f"Needs 'label': the id of a label of this project, got {entry!r}."
            continue
        label_id = entry["label"]
        sources = entry.get("assets", [])
        if not isinstance(sources, list):
            errors[key] = "'assets' must be a list of asset ids or built-in names like 'builtin:cube'."
            continue
        resolved = []
        for source in sources:
            if isinstance(source, str) and source.startswith("builtin:"):
                if generator != "blender" or source[8:] not in BUILTIN_MODELS:
                    errors[key] = f"Unknown built-in {source!r}; use builtin:{', builtin:'.join(BUILTIN_MODELS)}."
                    break
                resolved.append(source)
            elif isinstance(source, int) and not isinstance(source, bool) and source in assets:
                wanted = "model3d" if generator == "blender" else "cutout"
                if assets[source]["kind"] != wanted:
                    errors[key] = f"Asset {source} is a {assets[source]['kind']}; this generator needs {wanted} assets."
                    break
                resolved.append(f"asset:{source}")
            else:
                errors[key] = f"{source!r} is not an asset of this project nor a built-in model."
                break
        else:
            use_masks = bool(entry.get("use_annotated_masks", generator == "cutpaste"))
            if not resolved and not (generator == "cutpaste" and use_masks):
                errors[key] = f"The class {labels[label_id]['name']!r} has an empty asset list; give it a model."
                continue
            item = {"label": label_id, "assets": resolved}
            if generator == "cutpaste":
                item["use_annotated_masks"] = use_masks
            cleaned_classes.append(item)
    out["classes"] = cleaned_classes

    backgrounds = spec.get("backgrounds", [])
    if not isinstance(backgrounds, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and assets.get(b, {}).get("kind") in ("background", "hdri")
        for b in backgrounds
    ):
        errors["backgrounds"] = "Must be a list of ids of background or HDRI assets of this project."
        backgrounds = []
    out["backgrounds"] = list(backgrounds)

    ranges = BLENDER_RANGES if generator == "blender" else CUTPASTE_RANGES
    for name, (default, lo, hi) in ranges.items():
        out[name] = _range(spec, name, default, lo, hi, name in INTEGER_RANGES | {"objects_per_image"}, errors)
    if generator == "blender":
        samples = _int(spec.get("samples", 32), "samples", 1, MAX_SAMPLES, errors)
        out["samples"] = samples
        out["denoise"] = bool(spec.get("denoise", False))
        out["ground"] = bool(spec.get("ground", True))
    else:
        blending = spec.get("blending", ["none", "gaussian", "poisson"])
        if isinstance(blending, str):
            blending = [blending]
        if not isinstance(blending, list) or not blending or any(b not in BLENDINGS for b in blending):
            errors["blending"] = f"Must be a list of blending modes among {', '.join(BLENDINGS)}."
        out["blending"] = blending
        out["flip"] = bool(spec.get("flip", True))
        if not out["backgrounds"]:
            errors["backgrounds"] = "Cut-and-paste needs at least one background image asset."
        elif any(assets[b]["kind"] != "background" for b in out["backgrounds"]):
            errors["backgrounds"] = "Cut-and-paste pastes onto background images, not HDRIs."
    if errors:
        raise SpecError(errors)
    return out


# --- sampling -------------------------------------------------------------------------------
def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _uniform(rng: np.random.Generator, bounds: list[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def _integer(rng: np.random.Generator, bounds: list[int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def scene_sample(spec: dict, index: int) -> dict:
    """The fully resolved Blender scene for image ``index`` of a cleaned spec."""
    rng = _rng(spec["seed"], index)
    width, height = spec["resolution"]
    n_objects = _integer(rng, spec["objects_per_image"])
    n_distractors = _integer(rng, spec["distractors"])
    # Objects stand on a ring around the origin, spaced so that they rarely overlap fully.
    objects = []
    total = n_objects + n_distractors
    ring = 0.0 if total == 1 else 0.9 + 0.25 * total
    start = float(rng.uniform(0, 2 * math.pi))
    for k in range(total):
        angle = start + 2 * math.pi * k / total
        radius = ring * float(rng.uniform(0.7, 1.0))
        if k < n_objects:
            cls = spec["classes"][int(rng.integers(len(spec["classes"])))]
            source, label = cls["assets"][int(rng.integers(len(cls["assets"])))], cls["label"]
        else:
            source, label = f"builtin:{BUILTIN_MODELS[int(rng.integers(4))]}", None
        objects.append(
            {
                "instance": k + 1,
                "source": source,
                "label": label,
                "location": [radius * math.cos(angle), radius * math.sin(angle), 0.0],
                "rotation_z": float(rng.uniform(0, 360)),
                "scale": _uniform(rng, spec["object_scale"]),
                "hue": float(rng.uniform(0, 1)),
                "hue_jitter": _uniform(rng, spec["hue_jitter"]),
                "roughness": _uniform(rng, spec["roughness"]),
            }
        )
    lights = []
    for _ in range(_integer(rng, spec["light_count"])):
        azimuth, elevation = float(rng.uniform(0, 360)), float(rng.uniform(25, 80))
        distance = float(rng.uniform(4, 8))
        lights.append(
            {
                "type": "POINT",
                "location": _spherical(distance, elevation, azimuth, [0.0, 0.0, 0.0]),
                "power": _uniform(rng, spec["light_power"]),
                "temperature": _uniform(rng, spec["light_temperature"]),
            }
        )
    background = None
    if spec["backgrounds"]:
        background = spec["backgrounds"][int(rng.integers(len(spec["backgrounds"])))]
    world_color = [float(v) for v in rng.uniform(0.05, 0.6, size=3)]
    return {
        "index": index,
        "seed": spec["seed"],
        "width": width,
        "height": height,
        "samples": spec["samples"],
        "denoise": spec["denoise"],
        "camera": {
            "distance": _uniform(rng, spec["camera_distance"]) + ring,
            "elevation": _uniform(rng, spec["camera_elevation"]),
            "azimuth": _uniform(rng, spec["camera_azimuth"]),
            "focal_length": _uniform(rng, spec["focal_length"]),
            "target": [0.0, 0.0, 0.5],
        },
        "lights": lights,
        "world": {"color": world_color, "background": background, "strength": 1.0},
        "ground": spec["ground"],
        "objects": objects,
    }


def _spherical(distance: float, elevation: float, azimuth: float, target: list[float]) -> list[float]:
    el, az = math.radians(elevation), math.radians(azimuth)
    return [
        target[0] + distance * math.cos(el) * math.cos(az),
        target[1] + distance * math.cos(el) * math.sin(az),
        target[2] + distance * math.sin(el),
    ]


def camera_location(camera: dict) -> list[float]:
    """Where a scene's camera stands (it looks at ``camera['target']``)."""
    return _spherical(camera["distance"], camera["elevation"], camera["azimuth"], camera["target"])


def shards_plan(*, count: int, shard_size: int) -> list[tuple[int, int]]:
    """(first image index, number of images) for each shard of a job."""
    return [(start, min(shard_size, count - start)) for start in range(0, count, shard_size)]
