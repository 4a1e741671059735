"""The augmentation build step, on the version build's own item type."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image as PILImage

from annotate import storage
from annotate.geometry import validate_geometry
from augment.models import Recipe
from augment.offline import derive_seed
from augment.version_step import step_augment
from datasets.pipeline import VersionItem
from jobs.runner import JobError

pytestmark = pytest.mark.django_db


Item = VersionItem


def items_of(images, splits):
    return [
        Item(file=im.file, sha256=im.sha256, mime_type=im.mime_type, width=im.width, height=im.height,
             original_name=im.original_name, source=im.source, split=split, image_id=im.pk,
             annotations=[{"label": "face", "kind": "keypoints", "geometry": {"points": [
                 [10.0, 10.0, 2], [30.0, 10.0, 2], [20.0, 30.0, 1]]}},
                 {"label": "cat", "kind": "box", "geometry": {"x": 5.0, "y": 5.0, "w": 20.0, "h": 20.0}}])
        for im, split in zip(images, splits)
    ]


def ctx_for(project, options):
    progress = []
    return SimpleNamespace(version=SimpleNamespace(project=project), params={"augment": options},
                           progress=lambda f, m=None: progress.append(f), calls=progress)


def test_originals_pass_and_only_train_items_get_copies(project, labels, add_images):
    images = add_images(3)
    recipe = Recipe.objects.create(project=project, name="r", profile="phone-low-light", spec={"transforms": [
        {"name": "HorizontalFlip", "p": 0.5}, {"name": "PoissonGaussianNoise", "p": 1}]})
    items = items_of(images, ["train", "val", "train"])
    ctx = ctx_for(project, {"recipe": recipe.pk, "copies": 2, "seed": 4})
    out = list(step_augment(ctx, iter(items)))
    assert out[:3] == items  # originals first, unchanged, in every split
    copies = out[3:]
    assert len(copies) == 4 and all(c.split == "train" and c.source == "augmented" for c in copies)
    assert [c.meta["augment"]["source_image"] for c in copies] == [images[0].pk] * 2 + [images[2].pk] * 2
    assert copies[0].meta["augment"]["seed"] == derive_seed(4, images[0].pk, 0)
    assert copies[0].meta["augment"]["recipe"] == {"id": recipe.pk, "name": "r", "profile": "phone-low-light"}
    assert ctx.calls and ctx.calls[-1] == 1.0
    for c in copies:
        assert c.image_id is None and c.original_name.endswith(f".aug{c.meta['augment']['copy']}.jpg")
        stored = PILImage.open(storage.media_path(c.file))
        assert stored.size == (c.width, c.height) and stored.format == "JPEG"
        assert [a["kind"] for a in c.annotations] == ["keypoints", "box"] and "bbox" not in c.annotations[1]
        validate_geometry("keypoints", c.annotations[0]["geometry"], width=c.width, height=c.height,
                          keypoint_names=["left_eye", "right_eye", "nose"])
        validate_geometry("box", c.annotations[1]["geometry"], width=c.width, height=c.height)
    # Deterministic: the same options give the same files.
    again = list(step_augment(ctx_for(project, {"recipe": recipe.pk, "copies": 2, "seed": 4}), iter(items)))
    assert [c.sha256 for c in again[3:]] == [c.sha256 for c in copies]


def test_without_options_items_pass_through(project, add_images):
    items = items_of(add_images(2), ["train", "train"])
    ctx = SimpleNamespace(version=SimpleNamespace(project=project), params={})
    assert list(step_augment(ctx, iter(items))) == items


@pytest.mark.parametrize("options, message", [
    ({"recipe": 999999, "copies": 1}, "not a recipe of this project"),
    ({"recipe": None, "copies": 0}, "copies"),
    ({"recipe": None, "copies": 1, "seed": "x"}, "seed"),
])
def test_bad_options_fail_the_build_readably(project, add_images, options, message):
    items = items_of(add_images(1), ["train"])
    with pytest.raises(JobError, match=message):
        list(step_augment(ctx_for(project, options), iter(items)))
