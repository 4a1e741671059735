"""The dataset-version build step that adds ``copies`` augmented copies of each train image.

Registered with the version build (:func:`datasets.pipeline.step_register`, from this app's
``AppConfig.ready``) under the params key ``augment``; the build request's options are checked by
:func:`augment_options_clean` when the request arrives (a recipe of another project is a 400
naming ``augment.recipe``), and read again by the step from ``ctx.params["augment"]``::

    {"recipe": <Recipe id of the version's project>, "copies": 3, "seed": 0}

plus, when the recipe has them, its ``flip_pairs`` as they were at request time (``{"face":
[["left_eye", "right_eye"]]}``), so that writers pair mirrored keypoints as the recipe did (the
YOLO ``flip_idx``).

Without them the step passes every item through unchanged. With them:

- every item is passed through first (originals stay, in every split);
- each **train** item gets ``copies`` augmented copies (:func:`augment.offline.augment_items`,
  deterministic by seed, ``AUGMENT_PROCESSES`` worker processes); validation and test items are
  never augmented;
- a copy is stored content-addressed (:func:`annotate.storage.store_image`) and yielded as a new
  item with ``source="augmented"``, ``image_id=None`` (it is not a project image and never enters
  the labeling queue), ``split="train"``, geometry in pixels of the new file, and
  ``meta["augment"] = {"seed", "recipe": {"id", "name", "profile"}, "source_image", "copy",
  "spec_sha256"}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate import storage
from annotate.models import LabelClass, Project
from annotate.split_names import TRAIN
from datasets.pipeline import BuildContext, VersionItem
from jobs.runner import JobError

from .models import Recipe
from .offline import AugmentError, augment_items

MAX_COPIES = 50


def _options_problems(options) -> dict[str, str]:
    if not isinstance(options, dict):
        return {"augment": 'augment must be an object such as {"recipe": 5, "copies": 3, "seed": 0}.'}
    problems = {}
    copies, seed, recipe = options.get("copies", 1), options.get("seed", 0), options.get("recipe")
    if isinstance(recipe, bool) or not isinstance(recipe, int):
        problems["augment.recipe"] = f"augment.recipe must be the id of a recipe of this project, got {recipe!r}."
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        problems["augment.copies"] = f"augment.copies must be a whole number from 1 to {MAX_COPIES}, got {copies!r}."
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems["augment.seed"] = f"augment.seed must be a whole number, got {seed!r}."
    return problems


def augment_options_clean(project: Project, options) -> dict | None:
    """The build request's ``augment`` options, completed and checked; ``ValidationError`` names the field."""
    if not options:
        return None
    problems = _options_problems(options)
    recipe = None if problems else Recipe.objects.filter(pk=options["recipe"], project=project).first()
    if not problems and recipe is None:
        problems["augment.recipe"] = f"Recipe {options['recipe']!r} is not a recipe of this project."
    if problems:
        raise ValidationError(problems)
    cleaned = {"recipe": options["recipe"], "copies": options.get("copies", 1), "seed": options.get("seed", 0)}
    flip_pairs = (recipe.spec or {}).get("flip_pairs")
    if isinstance(flip_pairs, dict):  # for the writers (YOLO ``flip_idx``), which mirror as the recipe did
        cleaned["flip_pairs"] = flip_pairs
    return cleaned


def step_augment(ctx: BuildContext, items: Iterable[VersionItem]) -> Iterator[VersionItem]:
    """Pass items through, then add the augmented copies of the train items (see the module doc)."""
    options = (ctx.params or {}).get("augment")
    if not options:
        yield from items
        return
    problems = _options_problems(options)
    if problems:  # the request was checked; this is a version recorded before that check existed
        raise JobError(" ".join(problems.values()))
    options = {"recipe": options["recipe"], "copies": options.get("copies", 1), "seed": options.get("seed", 0)}
    project = ctx.version.project
    recipe = Recipe.objects.filter(pk=options["recipe"], project=project).first()
    if recipe is None:  # deleted between the request and the build
        raise JobError(f"Recipe {options['recipe']!r} is not a recipe of this project.")
    train = []
    for item in items:
        yield item
        if item.split == TRAIN:
            train.append(item)
    if not train:
        return
    labels = {
        name: {"name": name, "keypoint_names": kps or []}
        for name, kps in LabelClass.objects.filter(project=project).values_list("name", "keypoint_names")
    }
    engine_items = [
        {"key": item.image_id if item.image_id is not None else item.sha256, "path": str(storage.media_path(item.file)),
         "split": TRAIN, "annotations": item.annotations}
        for item in train
    ]
    by_key = {entry["key"]: item for entry, item in zip(engine_items, train)}
    progress = ctx.progress
    try:
        outputs = augment_items(
            spec=recipe.spec, items=engine_items, copies=options["copies"], seed=options["seed"],
            processes=getattr(settings, "AUGMENT_PROCESSES", 1), labels=labels,
            recipe={"id": recipe.pk, "name": recipe.name, "profile": recipe.profile},
            progress=lambda fraction, message: progress(fraction, message),
        )
        for out in outputs:
            source = by_key[out["key"]]
            data = out["image"]
            sha256 = hashlib.sha256(data).hexdigest()
            stem = PurePosixPath(source.original_name or source.sha256[:12]).stem
            yield dataclasses.replace(
                source,
                file=storage.store_image(sha256, out["extension"], data),
                sha256=sha256,
                mime_type=out["mime_type"],
                width=out["width"],
                height=out["height"],
                original_name=f"{stem}.aug{out['copy']}.{out['extension']}",
                source="augmented",
                split=TRAIN,
                image_id=None,
                annotations=[{k: v for k, v in a.items() if k != "bbox"} for a in out["annotations"]],
                meta={**(source.meta or {}), "augment": out["meta"]},
            )
    except AugmentError as exc:
        raise JobError(str(exc)) from exc
