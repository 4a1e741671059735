"""Recipe specs are checked against the real albumentations 2.0.8 signatures and schemas, errors
name the field, and the parameters of a valid recipe really take effect."""

import warnings

import albumentations as A
import numpy as np
import pytest

from augment.pipeline import Augmenter
from augment.recipes import RecipeError, build_compose, transform_catalog, validate_spec

from .helpers import encode_jpeg, flat_image, smooth_image


def errors_of(spec, **kwargs) -> dict:
    with pytest.raises(RecipeError) as info:
        validate_spec(spec, **kwargs)
    return info.value.errors


def test_a_valid_recipe_passes_and_builds():
    spec = {"transforms": [
        {"name": "HorizontalFlip", "p": 0.5},
        {"name": "GaussNoise", "params": {"std_range": [0.1, 0.2]}, "p": 0.5},
        {"name": "PoissonGaussianNoise", "params": {"exposure_range": [0.1, 0.4]}},
        {"name": "OneOf", "p": 0.5, "transforms": [{"name": "MotionBlur", "params": {"blur_limit": [3, 9]}},
                                                   {"name": "Defocus", "params": {"radius": [1, 3]}}]},
        {"name": "SomeOf", "n": 1, "transforms": [{"name": "ToGray"}, {"name": "RandomGamma"}]},
    ]}
    assert validate_spec(spec) is spec
    assert isinstance(build_compose(spec), A.Compose)


def test_albumentations_itself_only_warns_about_old_names():
    """Why we validate: the library accepts var_limit with a warning and ignores it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transform = A.GaussNoise(var_limit=(10, 50), p=1)
    assert any("var_limit" in str(w.message) for w in caught)
    assert transform.std_range == (0.2, 0.44)  # the default, not what was asked


def test_1x_parameter_name_is_rejected_naming_the_field():
    errors = errors_of({"transforms": [
        {"name": "HorizontalFlip"}, {"name": "Blur"}, {"name": "GaussNoise", "params": {"var_limit": [10, 50]}}]})
    assert list(errors) == ["transforms[2].params.var_limit"]
    message = errors["transforms[2].params.var_limit"]
    assert message.startswith("transforms[2].params.var_limit:")
    assert "std_range" in message and "1.x" in message


def test_unknown_transform_is_rejected_with_a_suggestion():
    errors = errors_of({"transforms": [{"name": "GausNoise"}]})
    assert "transforms[0].name" in errors
    assert "GaussNoise" in errors["transforms[0].name"]


@pytest.mark.parametrize("item, field", [
    ({"name": "GaussNoise", "params": {"std_range": [2, 3]}}, "transforms[0].params.std_range"),
    ({"name": "ImageCompression", "params": {"quality_range": [0, 100]}}, "transforms[0].params.quality_range"),
    ({"name": "ImageCompression", "params": {"quality_lower": 30}}, "transforms[0].params.quality_lower"),
    ({"name": "HorizontalFlip", "p": 1.5}, "transforms[0].p"),
    ({"name": "HorizontalFlip", "p": "often"}, "transforms[0].p"),
    ({"name": "Resize", "params": {"height": 10}}, "transforms[0].params.width"),
    ({"name": "Resize", "params": {"height": 100000, "width": 10}}, "transforms[0].params.height"),
    ({"name": "PoissonGaussianNoise", "params": {"exposure_range": [0, 2]}}, "transforms[0].params.exposure_range"),
    ({"name": "MotionBlur", "params": {"blur_limit": [3, 9999]}}, "transforms[0].params.blur_limit"),
    ({"name": "MotionBlur", "params": {"blur_limit": [4, 6]}}, "transforms[0].params.blur_limit"),
    ({"name": "PlanckianJitter", "params": {"temperature_limit": [2000, 3000]}}, "transforms[0].params"),
    ({"name": "Lambda"}, "transforms[0].name"),
    ({"name": "FDA", "params": {"reference_images": ["/etc/passwd"]}}, "transforms[0].name"),
    ({"name": "Blur", "extra": 1}, "transforms[0].extra"),
    ({"name": "Blur", "params": [1, 2]}, "transforms[0].params"),
    ({"name": "OneOf", "transforms": []}, "transforms[0].transforms"),
    ({"name": "OneOf", "transforms": [{"name": "Blur"}, {"name": "Nope"}]}, "transforms[0].transforms[1].name"),
    ({"name": "SomeOf", "n": 3, "transforms": [{"name": "Blur"}]}, "transforms[0].n"),
    ("HorizontalFlip", "transforms[0]"),
])
def test_bad_items_are_rejected_naming_the_field(item, field):
    errors = errors_of({"transforms": [item]})
    assert field in errors, errors
    assert errors[field].startswith(field + ":")


def test_spec_shape_errors():
    assert "spec" in errors_of(["HorizontalFlip"])
    assert "transforms" in errors_of({"transforms": "HorizontalFlip"})
    assert "steps" in errors_of({"transforms": [], "steps": []})


def test_flip_pairs_are_checked_against_the_project_labels():
    labels = {"face": ["left_eye", "right_eye", "nose"], "cat": []}
    assert validate_spec({"transforms": [], "flip_pairs": {"face": [["left_eye", "right_eye"]]}}, labels=labels)
    errors = errors_of({"transforms": [], "flip_pairs": {"dog": [["a", "b"]], "face": [["left_eye", "ear"]]}},
                       labels=labels)
    assert "flip_pairs.dog" in errors and "flip_pairs.face[0]" in errors
    assert "flip_pairs.face[0]" in errors_of({"transforms": [], "flip_pairs": {"face": [["nose", "nose"]]}})


def test_catalog_lists_transforms_with_their_real_parameters():
    catalog = {t["name"]: t for t in transform_catalog()}
    assert "std_range" in catalog["GaussNoise"]["params"]
    assert "var_limit" not in catalog["GaussNoise"]["params"]
    assert catalog["PoissonGaussianNoise"]["custom"] is True
    assert catalog["Resize"]["params"]["height"] == {"required": True, "type": "integer", "min": 1, "max": 8192}
    assert "Lambda" not in catalog and "Normalize" not in catalog


def _apply(spec, image, seed=0):
    return Augmenter(validate_spec(spec))(image, [], seed=seed)[0]


def test_gauss_noise_std_range_takes_effect():
    img = flat_image(128, 200, 150)
    stds = []
    for std in (0.02, 0.1, 0.2):
        out = _apply({"transforms": [{"name": "GaussNoise", "params": {"std_range": [std, std]}, "p": 1}]}, img)
        stds.append(float((out.astype(float) - img).std()))
    # std_range is a fraction of 255: 5.1, 25.5, 51 grey levels (51 is clipped a little at 0/255).
    assert stds[0] == pytest.approx(0.02 * 255, rel=0.15)
    assert stds[1] == pytest.approx(0.1 * 255, rel=0.1)
    assert stds[0] < stds[1] < stds[2]


def test_image_compression_quality_range_takes_effect():
    img = smooth_image(256, 192)
    sizes = []
    for quality in (90, 50, 10):
        out = _apply({"transforms": [{"name": "ImageCompression", "params": {"quality_range": [quality, quality]},
                                      "p": 1}]}, img)
        sizes.append(len(encode_jpeg(np.ascontiguousarray(out), 100)))
    # A harder-compressed image has less detail left: re-encoded losslessly-ish it is smaller.
    assert sizes[0] > sizes[1] > sizes[2]


def test_probability_zero_means_untouched_and_one_means_always():
    img = smooth_image()
    assert np.array_equal(_apply({"transforms": [{"name": "GaussNoise", "p": 0}]}, img), img)
    assert not np.array_equal(_apply({"transforms": [{"name": "GaussNoise", "p": 1}]}, img), img)
