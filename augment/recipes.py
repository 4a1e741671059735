"""Recipes as data: an albumentations 2.0.8 pipeline stored as JSON, validated strictly, built on demand.

A recipe spec looks like::

    {
      "transforms": [
        {"name": "HorizontalFlip", "p": 0.5},
        {"name": "PoissonGaussianNoise", "params": {"exposure_range": [0.1, 0.4]}, "p": 0.9},
        {"name": "OneOf", "p": 0.5, "transforms": [
            {"name": "MotionBlur", "params": {"blur_limit": [3, 9]}},
            {"name": "Defocus", "params": {"radius": [1, 3]}}
        ]}
      ],
      "flip_pairs": {"face": [["left_eye", "right_eye"]]}
    }

albumentations itself only *warns* about a parameter it does not know (a 1.x name such as
``GaussNoise(var_limit=...)``) and then silently uses its defaults, so a recipe would look right
and do something else. Here every transform name, parameter name and value is checked against the
transform's real ``__init__`` signature and its pydantic ``InitSchema`` before anything is saved,
and every problem is reported under the path of the field, e.g.
``transforms[2].params.var_limit``.

``flip_pairs`` (optional) overrides, per label name, which keypoints trade places when the image
is mirrored; without it the pairs are derived from the label's keypoint names (``left_*`` /
``right_*``).

This module does not import Django: the offline engine's worker processes use it directly.
"""

from __future__ import annotations

import difflib
import inspect
import math
import types
import typing
import warnings
from collections.abc import Mapping
from typing import Any

import albumentations as A
from albumentations.core.transforms_interface import BasicTransform
from pydantic import ValidationError as PydanticValidationError

from .transforms import CUSTOM_TRANSFORMS

# Transforms a stored recipe may not use: abstract bases, 3D/volume and spectrogram ones, those
# that need extra inputs we do not pass (reference images read from disk, overlay metadata, a crop
# box, mosaic partners, a single semantic mask), arbitrary code (Lambda), and those that change the image's dtype (the
# pipeline's contract is uint8 RGB in and out).
EXCLUDED = frozenset(
    {
        "BasicTransform", "DualTransform", "ImageOnlyTransform", "Transform3D", "NoOp",
        "CenterCrop3D", "CoarseDropout3D", "CubicSymmetry", "Pad3D", "PadIfNeeded3D", "RandomCrop3D",
        "FrequencyMasking", "TimeMasking", "TimeReverse",
        "FDA", "HistogramMatching", "PixelDistributionAdaptation", "OverlayElements", "TextImage",
        "RandomCropNearBBox", "Mosaic", "Lambda", "MaskDropout", "CropNonEmptyMaskIfExists",
        "Normalize", "ToFloat", "FromFloat",
    }
)
COMPOSITIONS = {"OneOf": A.OneOf, "SomeOf": A.SomeOf, "Sequential": A.Sequential}

# Parameter names from albumentations 1.x that 2.x dropped or renamed: a hint for the message.
RENAMED_1X = {
    "var_limit": "std_range (a fraction of the maximum value, e.g. [0.1, 0.2])",
    "mean": "mean_range",
    "quality_lower": "quality_range",
    "quality_upper": "quality_range",
    "scale_min": "scale_range",
    "scale_max": "scale_range",
    "always_apply": "p=1",
    "alpha_affine": "a separate Affine transform",
    "value": "fill",
    "mask_value": "fill_mask",
    "cval": "fill",
    "cval_mask": "fill_mask",
    "mode": "border_mode",
    "shift_limit": "Affine(translate_percent=...)",
    "max_holes": "num_holes_range",
    "min_holes": "num_holes_range",
    "max_height": "hole_height_range",
    "max_width": "hole_width_range",
    "min_height": "hole_height_range",
    "min_width": "hole_width_range",
    "num_shadows_lower": "num_shadows_limit",
    "num_shadows_upper": "num_shadows_limit",
    "fog_coef_lower": "fog_coef_range",
    "fog_coef_upper": "fog_coef_range",
    "snow_point_lower": "snow_point_range",
    "snow_point_upper": "snow_point_range",
    "num_flare_circles_lower": "num_flare_circles_range",
    "num_flare_circles_upper": "num_flare_circles_range",
    "blur_value": "blur_limit",
    "interpolation_down": "interpolation_pair",
    "interpolation_up": "interpolation_pair",
    "gauss_sigma": "std_range",
}
# Output sizes a recipe may ask for (Resize, crops, pads): larger is a memory bomb, not a recipe.
SIZE_PARAMS = ("size", "height", "width", "max_size", "min_height", "min_width", "max_size_hw")
MAX_OUTPUT_SIDE = 8192
# Blur kernels beyond this many pixels are not a camera, only a way to make a job run for hours.
KERNEL_PARAMS = ("blur_limit", "radius", "sigma_limit", "kernel_size")
MAX_KERNEL = 255
MAX_TRANSFORMS = 64
MAX_DEPTH = 3
SPEC_KEYS = {"transforms", "flip_pairs"}


class RecipeError(ValueError):
    """A recipe spec that cannot be used; ``errors`` maps field paths to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


def _registry() -> dict[str, type[BasicTransform]]:
    names: dict[str, type[BasicTransform]] = {}
    for name in dir(A):
        cls = getattr(A, name)
        if inspect.isclass(cls) and issubclass(cls, BasicTransform) and name not in EXCLUDED:
            names[name] = cls
    names.update(CUSTOM_TRANSFORMS)
    return names


TRANSFORMS: dict[str, type[BasicTransform]] = _registry()


def transform_parameters(cls: type[BasicTransform]) -> dict[str, inspect.Parameter]:
    """The keyword parameters a transform's ``__init__`` really takes (``p`` included)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        name: param for name, param in params.items()
        if name not in ("self", "strict") and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL)
    }


def _json_value(value: Any) -> Any:
    """Defaults shown in the API: tuples as lists, anything odd as its repr."""
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


_BOUND_KEYS = (("ge", "min", True), ("gt", "min", False), ("le", "max", True), ("lt", "max", False))


def _bounds(metadata) -> dict:
    """min / max (and whether they are exclusive) from annotated-types bounds or check_range_bounds."""
    out: dict[str, Any] = {}
    for meta in metadata:
        for attr, key, inclusive in _BOUND_KEYS:
            value = getattr(meta, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = value
                if not inclusive:
                    out[f"{key}_exclusive"] = True
        func = getattr(meta, "func", None)
        if func is not None and getattr(func, "__closure__", None) and "min_val" in func.__code__.co_freevars:
            cells = dict(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__)))
            for key, inclusive in (("min", "min_inclusive"), ("max", "max_inclusive")):
                value = cells.get(f"{key}_val")
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    out[key] = value
                    if cells.get(inclusive) is False:
                        out[f"{key}_exclusive"] = True
    return out


def _describe_annotation(annotation: Any, metadata: list) -> dict:
    """The editor's view of a parameter type: boolean, integer, number, choice, range or json."""
    metadata = list(metadata)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _describe_annotation(base, metadata + extra)
    if annotation is bool:
        return {"type": "boolean"}
    if annotation in (int, float):
        return {"type": "integer" if annotation is int else "number", **_bounds(metadata)}
    if origin is typing.Literal:
        choices = list(typing.get_args(annotation))
        described: dict[str, Any] = {"type": "choice", "choices": [c for c in choices if c is not None]}
        if None in choices:
            described["nullable"] = True
        return described
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[0] is args[1] and args[0] in (int, float):
            return {"type": "range", "item": "integer" if args[0] is int else "number", **_bounds(metadata)}
        return {"type": "json"}
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        nullable = {"nullable": True} if len(rest) < len(args) else {}
        if len(rest) == 1:
            return {**_describe_annotation(rest[0], metadata), **nullable}
        parts = [_describe_annotation(a, metadata) for a in rest]
        ranges = [d for d in parts if d["type"] == "range"]
        scalars = {d["type"] for d in parts if d["type"] in ("integer", "number")}
        if len(ranges) == 1 and len(parts) == len(ranges) + len(scalars) and len(scalars) <= 1:
            return {**ranges[0], "accepts_number": bool(scalars), **nullable}
    return {"type": "json"}


def transform_parameter_spec(cls: type[BasicTransform], name: str) -> dict:
    """How the recipe editor should offer one parameter: its type and range, from the InitSchema."""
    schema = getattr(cls, "InitSchema", None)
    field = getattr(schema, "model_fields", {}).get(name) if schema is not None else None
    if field is None:
        return {"type": "json"}
    described = _describe_annotation(field.annotation, field.metadata)
    for names, limit in ((SIZE_PARAMS, MAX_OUTPUT_SIDE), (KERNEL_PARAMS, MAX_KERNEL)):
        if name in names and described["type"] in ("integer", "number", "range"):
            described["max"] = min(described.get("max", limit), limit)
    if name == "p":
        described.setdefault("min", 0)
        described.setdefault("max", 1)
    return described


def transform_catalog() -> list[dict]:
    """Every transform a recipe may use, with its parameters, defaults, types and ranges (for the API)."""
    out = []
    for name in sorted(TRANSFORMS):
        params = {}
        for pname, param in transform_parameters(TRANSFORMS[name]).items():
            params[pname] = {"required": True} if param.default is param.empty else {"default": _json_value(param.default)}
            params[pname].update(transform_parameter_spec(TRANSFORMS[name], pname))
        kind = "geometric" if issubclass(TRANSFORMS[name], A.DualTransform) else "pixel"
        out.append({"name": name, "kind": kind, "custom": name in CUSTOM_TRANSFORMS, "params": params})
    return out


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _check_probability(value: Any, field: str, errors: dict[str, str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value <= 1) or math.isnan(value):
        errors[field] = f"{field}: the probability p must be a number between 0 and 1, got {value!r}."


def _check_sizes(params: dict, path: str, errors: dict[str, str]) -> None:
    for names, limit in ((SIZE_PARAMS, MAX_OUTPUT_SIDE), (KERNEL_PARAMS, MAX_KERNEL)):
        for name in names:
            value = params.get(name)
            values = value if isinstance(value, list | tuple) else [value]
            for v in values:
                if isinstance(v, int | float) and not isinstance(v, bool) and v > limit:
                    errors[f"{path}.{name}"] = f"{path}.{name}: at most {limit} pixels, got {v!r}."


def _raise_parameter_warnings(caught: list, params: dict) -> None:
    """A warning that names one of the given parameters means the library changed or ignored it
    ("blur_limit ... automatically adjusted to (5, 7)"): for us that is an error. Advice that names
    none ("ShiftScaleRotate is a special case of Affine") is not."""
    for warning in caught:
        message = str(warning.message)
        for name in params:
            if name != "p" and name in message:
                raise _ChangedParameter(name, message)


class _ChangedParameter(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def _schema_errors(cls: type[BasicTransform], params: dict, path: str) -> dict[str, str]:
    """Run the transform's pydantic InitSchema on the parameters filled with their defaults."""
    schema = getattr(cls, "InitSchema", None)
    if schema is None:
        return {}
    full = {name: param.default for name, param in transform_parameters(cls).items() if param.default is not param.empty}
    full.update(params)
    accepted = set(schema.model_fields)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            schema(**{k: v for k, v in full.items() if k in accepted}, strict=True)
        _raise_parameter_warnings(caught, params)
    except PydanticValidationError as exc:
        errors = {}
        for err in exc.errors():
            loc = [str(part) for part in err.get("loc", ()) if part != "__root__"]
            field = f"{path}.{loc[0]}" if loc else path
            detail = err.get("msg", "invalid value").removeprefix("Value error, ")
            if loc and len(loc) > 1:
                detail = f"{'.'.join(loc[1:])}: {detail}"
            got = f" (got {err['input']!r})" if loc and "input" in err and not isinstance(err["input"], dict) else ""
            errors.setdefault(field, f"{field}: {detail}{got}")
        return errors
    except _ChangedParameter as exc:
        return {f"{path}.{exc.name}": f"{path}.{exc.name}: {exc}"}
    except (ValueError, TypeError, Warning) as exc:
        return {path: f"{path}: {exc}"}
    return {}


def _check_transform(item: Any, path: str, depth: int, errors: dict[str, str], counter: list[int]) -> None:
    counter[0] += 1
    if not isinstance(item, dict):
        errors[path] = f"{path}: each transform must be an object like {{\"name\": \"HorizontalFlip\", \"p\": 0.5}}."
        return
    name = item.get("name")
    if not isinstance(name, str) or not name:
        errors[f"{path}.name"] = f"{path}.name: give the transform's name, e.g. \"GaussNoise\"."
        return
    if name in COMPOSITIONS:
        allowed = {"name", "transforms", "p"} | ({"n", "replace"} if name == "SomeOf" else set())
        for key in item:
            if key not in allowed:
                errors[f"{path}.{key}"] = f"{path}.{key}: {name} takes only {', '.join(sorted(allowed))}."
        if "p" in item:
            _check_probability(item["p"], f"{path}.p", errors)
        children = item.get("transforms")
        if depth >= MAX_DEPTH:
            errors[path] = f"{path}: compositions may nest at most {MAX_DEPTH} deep."
            return
        if not isinstance(children, list) or not children:
            errors[f"{path}.transforms"] = f"{path}.transforms: {name} needs a non-empty list of transforms."
            return
        if name == "SomeOf":
            n = item.get("n", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(children):
                errors[f"{path}.n"] = f"{path}.n: a whole number from 1 to {len(children)}, got {n!r}."
            if not isinstance(item.get("replace", False), bool):
                errors[f"{path}.replace"] = f"{path}.replace: true or false."
        for i, child in enumerate(children):
            _check_transform(child, f"{path}.transforms[{i}]", depth + 1, errors, counter)
        return
    cls = TRANSFORMS.get(name)
    if cls is None:
        if hasattr(A, name):
            errors[f"{path}.name"] = f"{path}.name: {name} is not available in recipes (it needs inputs or outputs a recipe cannot give)."
        else:
            hint = _suggest(name, list(TRANSFORMS) + list(COMPOSITIONS))
            errors[f"{path}.name"] = f"{path}.name: unknown transform {name!r} (albumentations 2.0.8).{hint}"
        return
    for key in item:
        if key not in ("name", "params", "p"):
            errors[f"{path}.{key}"] = f"{path}.{key}: unknown key; a transform has name, params and p."
    params = item.get("params", {})
    if not isinstance(params, dict):
        errors[f"{path}.params"] = f"{path}.params: must be an object of parameter names to values."
        return
    params = dict(params)
    if "p" in params and "p" in item:
        errors[f"{path}.params.p"] = f"{path}.params.p: give p once, next to name (not also in params)."
    if "p" in item:
        params["p"] = item["p"]
    if "p" in params:
        before = len(errors)
        _check_probability(params["p"], f"{path}.p" if "p" in item else f"{path}.params.p", errors)
        if len(errors) > before:
            return
    known = transform_parameters(cls)
    unknown = False
    for key in params:
        if key not in known:
            unknown = True
            field = f"{path}.params.{key}"
            if key in RENAMED_1X and key not in known:
                hint = f" It is an albumentations 1.x name; 2.0.8 uses {RENAMED_1X[key]}."
            else:
                hint = _suggest(key, known)
            errors[field] = (
                f"{field}: {name} has no parameter {key!r}.{hint} "
                f"Its parameters: {', '.join(sorted(known))}."
            )
    missing = [k for k, param in known.items() if param.default is param.empty and k not in params]
    for key in missing:
        errors[f"{path}.params.{key}"] = f"{path}.params.{key}: {name} requires this parameter."
    if unknown or missing:
        return
    _check_sizes(params, f"{path}.params", errors)
    schema_errors = _schema_errors(cls, params, f"{path}.params")
    if schema_errors:
        errors.update(schema_errors)
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _instantiate(cls, params)
        _raise_parameter_warnings(caught, params)
    except _ChangedParameter as exc:
        errors[f"{path}.params.{exc.name}"] = f"{path}.params.{exc.name}: {exc}"
    except Exception as exc:  # the library's own checks beyond the schema
        errors[f"{path}.params"] = f"{path}.params: {name} rejects these parameters: {exc}"


def _check_flip_pairs(value: Any, errors: dict[str, str]) -> None:
    if not isinstance(value, dict):
        errors["flip_pairs"] = "flip_pairs: an object of label name to a list of [left, right] keypoint name pairs."
        return
    for label, pairs in value.items():
        field = f"flip_pairs.{label}"
        if not isinstance(pairs, list):
            errors[field] = f"{field}: a list of [left, right] keypoint name pairs."
            continue
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, str) and n for n in pair)):
                errors[f"{field}[{i}]"] = f"{field}[{i}]: a pair of two keypoint names, e.g. [\"left_eye\", \"right_eye\"]."
            elif pair[0] == pair[1]:
                errors[f"{field}[{i}]"] = f"{field}[{i}]: a keypoint cannot swap with itself."


def validate_spec(spec: Any, *, labels: Mapping[str, list[str]] | None = None) -> dict:
    """Check a recipe spec; return it unchanged if usable, else raise :class:`RecipeError`.

    ``labels`` (label name -> keypoint names), when given, lets ``flip_pairs`` be checked against
    the project's real labels and keypoints.
    """
    errors: dict[str, str] = {}
    if not isinstance(spec, dict):
        raise RecipeError({"spec": "spec: a recipe is an object with a 'transforms' list."})
    for key in spec:
        if key not in SPEC_KEYS:
            errors[key] = f"{key}: unknown key; a recipe has {', '.join(sorted(SPEC_KEYS))}."
    transforms = spec.get("transforms")
    if not isinstance(transforms, list):
        errors["transforms"] = "transforms: a list of transforms (it may be empty)."
    else:
        counter = [0]
        for i, item in enumerate(transforms):
            _check_transform(item, f"transforms[{i}]", 1, errors, counter)
        if counter[0] > MAX_TRANSFORMS:
            errors["transforms"] = f"transforms: at most {MAX_TRANSFORMS} transforms in a recipe, got {counter[0]}."
    if "flip_pairs" in spec:
        _check_flip_pairs(spec["flip_pairs"], errors)
        if labels is not None and isinstance(spec["flip_pairs"], dict):
            for label, pairs in spec["flip_pairs"].items():
                if label not in labels:
                    errors[f"flip_pairs.{label}"] = f"flip_pairs.{label}: the project has no label {label!r}."
                    continue
                for i, pair in enumerate(pairs if isinstance(pairs, list) else []):
                    for name in pair if isinstance(pair, list) else []:
                        if isinstance(name, str) and name not in labels[label]:
                            errors[f"flip_pairs.{label}[{i}]"] = (
                                f"flip_pairs.{label}[{i}]: {label!r} has no keypoint {name!r}."
                            )
    if errors:
        raise RecipeError(errors)
    try:
        build_compose(spec)  # the whole pipeline must assemble with our targets
    except Exception as exc:
        raise RecipeError({"transforms": f"transforms: the pipeline cannot be assembled: {exc}"})
    return spec


# Warps that are not affine or projective: straight edges bend, so a polygon's vertices no longer
# describe its outline. Shapes go through them as rasters (see augment.pipeline).
NONLINEAR = frozenset(
    {"ElasticTransform", "GridDistortion", "OpticalDistortion", "PiecewiseAffine", "ThinPlateSpline", "GridElasticDeform"}
)


# Crops that choose their window from the objects' boxes: only they need boxes passed in.
BBOX_AWARE = frozenset({"BBoxSafeRandomCrop", "RandomSizedBBoxSafeCrop", "AtLeastOneBBoxRandomCrop"})


def _uses(spec: dict, names: frozenset) -> bool:
    def walk(items) -> bool:
        return any(item["name"] in names or walk(item.get("transforms", [])) for item in items)

    return walk(spec.get("transforms", []))


def uses_nonlinear_warp(spec: dict) -> bool:
    """Whether any transform of the spec (nested ones included) bends straight lines."""
    return _uses(spec, NONLINEAR)


def uses_bbox_aware_crop(spec: dict) -> bool:
    """Whether a transform of the spec picks its crop from the objects' boxes."""
    return _uses(spec, BBOX_AWARE)


def _build(item: dict) -> BasicTransform:
    name = item["name"]
    if name in COMPOSITIONS:
        children = [_build(child) for child in item["transforms"]]
        kwargs: dict[str, Any] = {"p": item["p"]} if "p" in item else {}  # else the library's default
        if name == "SomeOf":
            kwargs.update(n=item.get("n", 1), replace=item.get("replace", False))
        return COMPOSITIONS[name](children, **kwargs)
    params = dict(item.get("params", {}))
    if "p" in item:
        params["p"] = item["p"]
    return _instantiate(TRANSFORMS[name], params)


def _instantiate(cls: type[BasicTransform], params: dict) -> BasicTransform:
    """Create the transform; strict (unknown arguments raise) where the class supports it."""
    if getattr(cls.__init__, "__name__", "") == "custom_init":  # wrapped by the InitSchema metaclass
        return cls(**params, strict=True)
    return cls(**params)


def build_compose(spec: dict) -> A.Compose:
    """An ``A.Compose`` for a validated spec, set up for our annotation targets.

    Keypoints are never removed by the library (we decide visibility ourselves); boxes are passed
    only when a bbox-aware crop needs them to keep objects in frame (output boxes are computed from
    transformed corners in :mod:`augment.pipeline`, not taken from the library).
    """
    with warnings.catch_warnings():
        # "Got processor for ..., but no transform to process it": a pixel-only recipe is fine.
        warnings.filterwarnings("ignore", message="Got processor for")
        return _compose([_build(item) for item in spec.get("transforms", [])], with_bboxes=uses_bbox_aware_crop(spec))


def _compose(transforms: list, *, with_bboxes: bool) -> A.Compose:
    bbox_params = A.BboxParams(
        format="coco", label_fields=["bbox_ids"], clip=True, filter_invalid_bboxes=True, check_each_transform=False
    )
    return A.Compose(
        transforms,
        keypoint_params=A.KeypointParams(
            format="xy", label_fields=["keypoint_ids"], remove_invisible=False, check_each_transform=False
        ),
        bbox_params=bbox_params if with_bboxes else None,
        strict=True,
    )
