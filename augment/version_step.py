"""A ready-made dataset-version build step: original + ``copies`` augmented copies of each train image.

The version build (``export.versions``) runs steps ``step(ctx, items) -> items`` over its stream of
``VersionItem`` objects. This module provides such a step without importing ``export`` (the
dependency points from export to augment, never back): it reads the attributes it needs
(``file``, ``sha256``, ``split``, ``annotations``, ``image_id``, ``original_name``, ``meta``) and
makes new items with :func:`dataclasses.replace`.

Options come from the version's recorded parameters, ``ctx.params["augment"]``::

    {"recipe": <Recipe id of the version's project>, "copies": 3, "seed": 0}

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
from typing import Any

from django.conf import settings

from annotate import storage
from annotate.models import LabelClass
from jobs.runner import JobError

from .models import Recipe
from .offline import AugmentError, augment_items

TRAIN = "train"


def _options(params: dict | None) -> dict | None:
    options = (params or {}).get("augment")
    if not options:
        return None
    copies, seed = options.get("copies", 1), options.get("seed", 0)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= 50:
        raise JobError(f"augment.copies must be a whole number from 1 to 50, got {copies!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise JobError(f"augment.seed must be a whole number, got {seed!r}.")
    return {"recipe": options.get("recipe"), "copies": copies, "seed": seed}


def step_augment(ctx, items: Iterable[Any]) -> Iterator[Any]:
    """Pass items through, then add the augmented copies of the train items (see the module doc)."""
    options = _options(getattr(ctx, "params", None))
    if options is None:
        yield from items
        return
    project = ctx.version.project
    recipe = Recipe.objects.filter(pk=options["recipe"], project=project).first()
    if recipe is None:
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
    progress = getattr(ctx, "progress", None)
    try:
        outputs = augment_items(
            spec=recipe.spec, items=engine_items, copies=options["copies"], seed=options["seed"],
            processes=getattr(settings, "AUGMENT_PROCESSES", 1), labels=labels,
            recipe={"id": recipe.pk, "name": recipe.name, "profile": recipe.profile},
            progress=(lambda fraction, message: progress(fraction, message)) if progress else None,
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
