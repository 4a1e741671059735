"""Writes and work of the augment app: recipes, previews and the corruption suite.

Services take keyword-only arguments and raise Django's ``ValidationError`` for the caller's
mistakes (the API answers 400 and nothing changes). Recipe specs are validated strictly
(:func:`augment.recipes.validate_spec`) before they are stored.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotate import storage
from annotate.models import SPLITS, Image, Project
from jobs.models import Job
from jobs.services import job_submit

from . import selectors
from .models import Recipe
from .offline import AugmentError, augment_items, derive_seed, encode_jpeg, read_image, run_engine
from .pipeline import Augmenter
from .profiles import PROFILES, SEVERITIES, corruption_spec, profile_get
from .recipes import RecipeError, validate_spec

PREVIEW_MAX_COUNT = 16
PREVIEW_QUALITY = 85


def _validated_spec(*, project: Project, spec) -> dict:
    try:
        return validate_spec(spec, labels=selectors.label_keypoints_by_name(project=project))
    except RecipeError as exc:
        raise ValidationError(exc.errors)


# --- recipes ---------------------------------------------------------------------------------
def recipe_create(*, project: Project, name: str, spec, description: str = "", profile: str = "", created_by=None) -> Recipe:
    """A new recipe of the project; the spec is validated first (400 naming the field if not)."""
    spec = _validated_spec(project=project, spec=spec)
    if profile and profile not in PROFILES:
        raise ValidationError({"profile": f"Unknown profile {profile!r}."})
    try:
        with transaction.atomic():
            return Recipe.objects.create(
                project=project, name=name, spec=spec, description=description, profile=profile, created_by=created_by
            )
    except IntegrityError:
        raise ValidationError({"name": f"The project already has a recipe called {name!r}."})


def recipe_update(*, recipe: Recipe, **fields) -> Recipe:
    """Change name, description and/or spec; a bad spec changes nothing."""
    if "spec" in fields:
        recipe.spec = _validated_spec(project=recipe.project, spec=fields["spec"])
    for key in ("name", "description"):
        if key in fields:
            setattr(recipe, key, fields[key])
    try:
        with transaction.atomic():
            recipe.save()
    except IntegrityError:
        raise ValidationError({"name": f"The project already has a recipe called {recipe.name!r}."})
    return recipe


def recipe_delete(*, recipe: Recipe) -> None:
    recipe.delete()


def recipe_clone_profile(*, project: Project, profile: str, name: str | None = None, created_by=None) -> Recipe:
    """Copy a built-in device profile into an editable recipe of the project."""
    try:
        source = profile_get(profile)
    except KeyError as exc:
        raise ValidationError({"profile": str(exc.args[0])})
    base = name or source.name
    candidate, n = base, 2
    if name is None:  # pick a free name: "Phone in low light", "Phone in low light (2)", ...
        while selectors.recipes_of(project=project).filter(name=candidate).exists():
            candidate, n = f"{base} ({n})", n + 1
    return recipe_create(
        project=project, name=candidate, spec=json.loads(json.dumps(source.spec)),
        description=f"{source.simulates}\n\n{source.rationale}", profile=source.slug, created_by=created_by,
    )


# --- offline: the version build's entry point ----------------------------------------------------------
def train_images_augment(
    *,
    recipe: Recipe,
    images: Iterable[Image],
    copies: int,
    seed: int,
    processes: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> Iterator[dict]:
    """Augmented copies of a dataset version's train images, with the recipe recorded on each.

    A thin front to :func:`augment.offline.augment_items` (whose docstring is the contract): it
    loads the images' annotations and labels in two queries and refuses, before any work, an image
    that is not in the train split (:class:`augment.offline.AugmentError`). Each output's ``meta``
    holds ``{"seed", "recipe": {"id", "name", "profile"}, "source_image", "copy", "spec_sha256"}``.
    """
    items, labels = selectors.engine_items(images=images)
    return augment_items(
        spec=recipe.spec, items=items, copies=copies, seed=seed, processes=processes, progress=progress,
        labels=labels, recipe={"id": recipe.pk, "name": recipe.name, "profile": recipe.profile},
    )


# --- preview -----------------------------------------------------------------------------------
def recipe_validate(*, project: Project, spec) -> dict:
    """Check a spec as saving it would (400 naming each field), without saving anything."""
    return _validated_spec(project=project, spec=spec)


def recipe_preview(
    *, recipe: Recipe, image: Image, count: int, seed: int, max_side: int | None = None, spec: dict | None = None
) -> list[dict]:
    """``count`` augmented samples of ``image`` with their annotations, deterministic by ``seed``.

    Sample ``i`` uses the same seed as copy ``i`` of that image in an offline build with the same
    seed (:func:`augment.offline.derive_seed`), so the preview shows exactly what a version would
    contain. Images come back as base64 JPEG data URLs. The augmentation always runs at the
    image's own size (noise and blur depend on it); ``max_side`` only shrinks the JPEG sent back
    (``display_scale`` says by how much), so that a page of samples of a 12-megapixel photo is not
    tens of megabytes. ``width``, ``height`` and the annotations stay in augmented-image pixels.
    ``spec`` (validated first) previews unsaved edits instead of the stored spec.
    """
    spec = recipe.spec if spec is None else _validated_spec(project=recipe.project, spec=spec)
    if image.project_id != recipe.project_id:
        raise ValidationError({"image": "The image belongs to another project."})
    if not 1 <= count <= PREVIEW_MAX_COUNT:
        raise ValidationError({"count": f"count must be 1 to {PREVIEW_MAX_COUNT}."})
    annotations, labels = selectors.engine_annotations(images=[image])
    augmenter = Augmenter(spec, labels=labels)
    try:
        pixels = read_image(str(storage.media_path(image.file)))
    except AugmentError as exc:
        raise ValidationError({"image": str(exc)})
    samples = []
    for i in range(count):
        sample_seed = derive_seed(seed, image.pk, i)
        try:
            out, anns = augmenter(pixels, annotations[image.pk], seed=sample_seed)
        except Exception as exc:  # e.g. a crop larger than this image: the recipe does not fit it
            raise ValidationError({"detail": f"The recipe cannot be applied to this image: {exc}"})
        height, width = out.shape[:2]
        scale = 1.0 if max_side is None else min(1.0, max_side / max(width, height))
        shown = out if scale == 1.0 else cv2.resize(
            out, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        data = encode_jpeg(shown, PREVIEW_QUALITY)
        samples.append({
            "index": i,
            "seed": sample_seed,
            "width": int(width),
            "height": int(height),
            "display_scale": scale,
            "image": "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"),
            "annotations": anns,
        })
    return samples


# --- corruption suite ----------------------------------------------------------------------------
def corruption_folder(*, project: Project, profile: str, severity: int, split: str, seed: int) -> str:
    """Where a corrupted split is written, relative to MEDIA_ROOT (one folder per setting)."""
    return f"corruptions/project-{project.pk}/{profile}/severity-{severity}/{split}-seed-{seed}"


def corruption_check(*, profile: str, severity, split: str) -> None:
    """Refuse unknown profiles, severities outside 1-5 and unknown splits (400)."""
    if profile not in PROFILES:
        raise ValidationError({"profile": f"Unknown profile {profile!r}; known: {', '.join(PROFILES)}."})
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValidationError({"severity": f"severity must be 1 to 5, got {severity!r}."})
    if split not in SPLITS:
        raise ValidationError({"split": "split must be train, val or test."})


CORRUPTION_KIND = "augment.corruption"


class CorruptionRunning(Exception):
    """The same corruption is already queued or running (a 409): follow that job instead."""

    def __init__(self, job: Job):
        self.job = job
        super().__init__("The same corruption is already being built; follow that job.")


def corruption_start(*, project: Project, profile: str, severity: int, split: str, seed: int = 0, user) -> Job:
    """Queue the corruption of a split as a job (sent on commit); see :func:`corruption_build`.

    Refused with :class:`CorruptionRunning` while a job with the same settings is queued or
    running, so the folder is written by one job at a time. The check and the new job happen
    under a lock on the project row, so two requests at once cannot both pass the check (on
    PostgreSQL; SQLite transactions here take the write lock up front, with the same effect).
    """
    corruption_check(profile=profile, severity=severity, split=split)
    params = {"profile": profile, "severity": severity, "split": split, "seed": seed}
    with transaction.atomic():
        Project.objects.select_for_update().only("pk").get(pk=project.pk)
        running = selectors.corruption_job_in_progress(project=project, params=params)
        if running is not None:
            raise CorruptionRunning(running)
        return job_submit(kind=CORRUPTION_KIND, created_by=user, project=project, params=params)


def corruption_build(
    *,
    project: Project,
    profile: str,
    severity: int,
    split: str,
    seed: int = 0,
    processes: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Write a corrupted copy of every image of a split, ImageNet-C style; return a summary.

    The same (profile, severity, split, seed) always gives the same pixels and annotations. Files
    go to :func:`corruption_folder` under MEDIA_ROOT: ``images/<image id>.jpg`` and
    ``manifest.json`` (per image: source id, file, size, transformed annotations, seed). The
    corrupted images are not project images: they never enter the labeling queue or a version.
    """
    corruption_check(profile=profile, severity=severity, split=split)
    images = list(Image.objects.filter(project=project, split=split).order_by("id"))
    if not images:
        raise AugmentError(f"The {split} split of this project has no images to corrupt.")
    spec = corruption_spec(profile, severity)
    items, labels = selectors.engine_items(images=images)
    relative = corruption_folder(project=project, profile=profile, severity=severity, split=split, seed=seed)
    folder = Path(settings.MEDIA_ROOT) / relative
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    manifest = []
    try:
        for out in run_engine(
            spec=spec, items=items, copies=1, seed=seed, processes=processes, progress=progress, labels=labels,
            recipe={"profile": profile, "severity": severity},
        ):
            name = f"images/{out['key']}.jpg"
            (tmp / name).write_bytes(out["image"])
            manifest.append({
                "source_image": out["key"], "file": name, "width": out["width"], "height": out["height"],
                "seed": out["meta"]["seed"], "annotations": out["annotations"],
            })
        summary = {
            "folder": relative,
            "manifest_url": f"/api/projects/{project.pk}/corruptions/{profile}/{severity}/{split}/{seed}/",
            "profile": profile,
            "severity": severity,
            "split": split,
            "seed": seed,
            "levels": {name: values[severity - 1] for name, values in profile_get(profile).levels.items()},
            "spec": spec,
            "images": len(manifest),
            "annotations": sum(len(m["annotations"]) for m in manifest),
        }
        (tmp / "manifest.json").write_text(json.dumps({**summary, "items": manifest}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
