"""Writes for synthetic data: assets, synth jobs and their shards, and the generated images.

A synth job is split into shards (``spec["shard_size"]`` images each); every shard is its own
:class:`jobs.models.Job` of kind ``synth.shard`` (:mod:`synth.tasks`, on the ``render`` queue), so
many workers on many machines share a big job, a crashed shard is retried on its own, and each
shard reports progress. The synth job's own Job is the parent of that group and is never run by a
worker: the jobs app keeps it in line with its shards (progress is their mean weighted by their
image counts, it ends when all of them have ended; :func:`jobs.services.job_group_sync`) and it is
what the API hands out, and what the user cancels; shards notice the cancel between two images.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate import storage
from annotate.geometry import mask_box, mask_to_rle, rle_to_mask
from annotate.imaging import ImageRejected, check_image_bytes
from annotate.models import Annotation, Image, LabelClass, Project
from annotate.services import annotations_replace, annotations_validate
from annotate.uploads import images_store_checked
from jobs.models import Job
from jobs.processes import subprocess_run
from jobs.runner import JobCancelled, JobContext, JobError
from jobs.services import job_create, job_group_cancel, job_group_sync, job_submit

from . import compositor
from .assets import AssetRejected, check_asset
from .models import Asset, SynthJob, SynthShard
from .spec import SpecError, scene_sample, shards_plan, spec_clean

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_MASK_CUTOUTS_PER_CLASS = 200


# --- assets ---------------------------------------------------------------------------------
def asset_upload(*, project: Project, kind: str, name: str, data: bytes, label: LabelClass | None, user) -> Asset:
    """Check and store an asset; models and cut-outs belong to a label, backgrounds do not."""
    if kind in (Asset.Kind.MODEL3D, Asset.Kind.CUTOUT) and label is None:
        raise ValidationError({"label": f"A {kind} asset needs the label (class) it shows."})
    if label is not None and label.project_id != project.pk:
        raise ValidationError({"label": "The label is not a label of this project."})
    try:
        checked = check_asset(kind, data)
    except AssetRejected as exc:
        raise ValidationError({"file": str(exc)})
    if kind == Asset.Kind.MODEL3D and label is not None and label.keypoint_names:
        found = set(checked.meta.get("keypoint_names", []))
        checked.meta["missing_keypoints"] = [n for n in label.keypoint_names if n not in found]
    sha = hashlib.sha256(checked.data).hexdigest()
    relative = storage.write_atomic(f"assets/{sha[:2]}/{sha}.{checked.format}", checked.data)
    return Asset.objects.create(
        project=project, kind=kind, label=label if kind in (Asset.Kind.MODEL3D, Asset.Kind.CUTOUT) else None,
        name=Path(name or "").name[:255], format=checked.format, sha256=sha, file=relative,
        size_bytes=len(checked.data), meta=checked.meta, created_by=user,
    )


class AssetInUse(Exception):
    """The asset is in the spec of a synth job that has not ended; deleting it would fail that job."""


def _unfinished_jobs_using(asset: Asset) -> list[int]:
    jobs = SynthJob.objects.filter(project_id=asset.project_id).exclude(job__status__in=Job.TERMINAL)
    ref = f"asset:{asset.pk}"
    return [
        j.pk for j in jobs.only("pk", "spec")
        if asset.pk in j.spec.get("backgrounds", []) or any(ref in c.get("assets", []) for c in j.spec.get("classes", []))
    ]


@transaction.atomic
def asset_delete(*, asset: Asset) -> None:
    """Delete an asset and its file (unless another asset row holds the same bytes).

    Refused with :class:`AssetInUse` while a queued or running synth job uses it: its shards
    (and their retries) read the asset's file when they run. Jobs that have ended keep what they
    made; their images do not need the asset.
    """
    in_use = _unfinished_jobs_using(asset)
    if in_use:
        raise AssetInUse(
            f"Synth job{'s' * (len(in_use) > 1)} {', '.join(map(str, in_use))} still use{'s' * (len(in_use) == 1)} "
            "this asset; cancel them or wait until they end."
        )
    relative, sha = asset.file, asset.sha256
    asset.delete()
    used = Asset.objects.filter(sha256=sha).exists()
    transaction.on_commit(lambda: storage.delete_if_unreferenced(relative, used))


# --- synth jobs -----------------------------------------------------------------------------
def _spec_checked(project: Project, spec) -> dict:
    labels = {
        label.pk: {"name": label.name, "keypoint_names": label.keypoint_names}
        for label in LabelClass.objects.filter(project=project)
    }
    assets = {
        a.pk: {"kind": a.kind, "label": a.label_id}
        for a in Asset.objects.filter(project=project).only("pk", "kind", "label_id")
    }
    try:
        cleaned = spec_clean(spec, labels=labels, assets=assets)
    except SpecError as exc:
        raise ValidationError(exc.errors)
    errors = {}
    for i, cls in enumerate(cleaned["classes"]):
        for source in cls["assets"]:
            if source.startswith("asset:") and assets[int(source[6:])]["label"] != cls["label"]:
                errors[f"classes[{i}]"] = f"Asset {source[6:]} shows another label than {labels[cls['label']]['name']!r}."
        if cleaned["generator"] == "cutpaste" and not cls["assets"]:
            has_masks = Annotation.objects.filter(
                label_id=cls["label"], kind=Annotation.Kind.MASK, image__project=project
            ).exclude(image__source=Image.Source.SYNTHETIC).exists()
            if not has_masks:
                errors[f"classes[{i}]"] = (
                    f"The class {labels[cls['label']]['name']!r} has an empty asset list and no annotated masks "
                    "to cut out; upload a cut-out or annotate a mask first."
                )
    if errors:
        raise ValidationError(errors)
    return cleaned


def synth_job_create(*, project: Project, spec: dict, user, enqueue: bool = True) -> SynthJob:
    """Check the spec, then create the job and its shards and queue the shards (on commit).

    Nothing is created or queued when the spec is refused.
    """
    cleaned = _spec_checked(project, spec)
    plan = shards_plan(count=cleaned["count"], shard_size=cleaned["shard_size"])
    from .tasks import SHARD_KIND

    with transaction.atomic():
        parent = job_create(
            kind=f"synth.{cleaned['generator']}", created_by=user, project=project,
            params={"spec": cleaned, "shards": len(plan)},
        )
        synth_job = SynthJob.objects.create(
            project=project, generator=cleaned["generator"], spec=cleaned, job=parent, created_by=user
        )
        parent.params["synth_job"] = synth_job.pk
        waiting = "a render worker" if cleaned["generator"] == "blender" else "a worker"
        parent.message = f"Waiting for {waiting} ({len(plan)} shard{'s' * (len(plan) != 1)})"
        parent.save(update_fields=["params", "message"])
        # Shards are the parent's children, weighted by their image counts; each is sent to a
        # render worker on commit unless the caller runs them itself (``manage.py synth``).
        create = job_submit if enqueue else job_create
        for number, (start, count) in enumerate(plan):
            shard_job = create(
                kind=SHARD_KIND, created_by=user, project=project, parent=parent, weight=count,
                params={"synth_job": synth_job.pk, "shard": number, "start": start, "count": count},
            )
            SynthShard.objects.create(synth_job=synth_job, number=number, start=start, count=count, job=shard_job)
    return synth_job


def synth_job_result(parent: Job, shards: list[Job]) -> dict:
    """What a synth job's Job records when it ends: the images its shards stored (so far)."""
    stored = [
        i for ids in SynthShard.objects.filter(synth_job__job=parent).order_by("number").values_list("image_ids", flat=True)
        for i in ids
    ]
    return {"images": len(set(stored)), "image_ids": stored[:1000], "shards": len(shards)}


def synth_job_sync(*, synth_job: SynthJob) -> Job:
    """Bring the synth job's Job in line with its shards: progress, status, result.

    The jobs app does it as shards start, report, end or are retried; this is for callers that
    want the up-to-date Job now.
    """
    return job_group_sync(parent=Job(pk=synth_job.job_id))


def synth_job_cancel(*, synth_job: SynthJob) -> Job:
    """Cancel a synth job: its shards still queued at once, a rendering one between two images.

    The synth job's Job ends when its shards have, with the images stored so far in its result:
    cancelled at once if nothing renders, else when the rendering shard stops. Raises
    :class:`jobs.services.JobAlreadyFinished` if it has already ended.
    """
    return job_group_cancel(parent=Job(pk=synth_job.job_id))


def _parent_cancelled(synth_job: SynthJob) -> bool:
    return Job.objects.filter(pk=synth_job.job_id, cancel_requested=True).exists()


def synthetic_image_store(
    *, project: Project, image_bytes: bytes, name: str, meta: dict, objects: list[dict], user
) -> Image:
    """Store one generated image with its annotations (source ``synthetic``), all or nothing.

    ``objects``: ``{"label", "mask" (bool array), "keypoints" or None, "instance"}``. Each object
    becomes one instance group: a mask (COCO RLE), the tight box of that mask, and its keypoints
    if its label has keypoint names, so every format writes it once. The same bytes stored twice
    give the existing image back, untouched.
    """
    try:
        checked = check_image_bytes(image_bytes)
    except ImageRejected as exc:
        raise JobError(f"A generated image was refused: {exc}")
    keypoint_labels = dict(LabelClass.objects.filter(project=project).values_list("pk", "keypoint_names"))
    with transaction.atomic():
        result = images_store_checked(
            project=project, checked=[(name, checked)], user=user, source=Image.Source.SYNTHETIC, meta=meta
        )
        if not result.created:
            return result.duplicates[0]
        image = result.created[0]
        items: list[dict] = []
        for obj in objects:
            mask = obj["mask"]
            tight = mask_box(mask)
            if tight is None:
                continue
            attributes = {"instance": obj["instance"]}
            box = dict(zip("xywh", tight))
            common = {"label": obj["label"], "attributes": attributes, "source": Annotation.Source.SYNTHETIC,
                      "group": len(items) + 1}  # any number distinct per object: stored renumbered 1..n
            items.append({**common, "kind": "mask", "geometry": mask_to_rle(mask)})
            items.append({**common, "kind": "box", "geometry": box})
            names = keypoint_labels.get(obj["label"]) or []
            if names and obj.get("keypoints") and len(obj["keypoints"]) == len(names):
                points = [[min(max(x, 0.0), image.width), min(max(y, 0.0), image.height), v] for x, y, v in obj["keypoints"]]
                if any(v > 0 for _, _, v in points):
                    items.append({**common, "kind": "keypoints", "geometry": {"points": points}})
        try:
            cleaned = annotations_validate(image=image, items=items)
        except ValidationError as exc:
            raise JobError(f"Generated annotations were refused: {exc}")
        annotations_replace(image=image, expected_revision=image.revision, items=cleaned, user=user)
    return image


# --- running a shard ------------------------------------------------------------------------
def _asset_paths(project: Project) -> dict[str, dict]:
    return {
        str(a.pk): {"kind": a.kind, "format": a.format, "path": str(storage.media_path(a.file)), "label": a.label_id}
        for a in Asset.objects.filter(project=project)
    }


def _worker_command(shard_file: Path, outdir: Path) -> list[str]:
    return [sys.executable, "-m", "synth.render_worker", str(shard_file), str(outdir)]


def _store_rendered(synth_job: SynthJob, outdir: Path, index: int, user) -> Image:
    labels = json.loads((outdir / f"{index}.json").read_text())
    ids = cv2.imread(str(outdir / f"{index}.ids.png"), cv2.IMREAD_UNCHANGED)
    image_bytes = (outdir / f"{index}.png").read_bytes()
    objects = [
        {"label": inst["label"], "instance": inst["instance"], "mask": ids == inst["instance"], "keypoints": inst["keypoints"]}
        for inst in labels["instances"]
        if inst["label"] is not None
    ]
    meta = {
        "synth_job": synth_job.pk, "generator": "blender", "index": index, "scene": labels["scene"],
        "instances": [{k: inst[k] for k in ("instance", "label", "source", "projected_box")} for inst in labels["instances"]],
    }
    image = synthetic_image_store(
        project=synth_job.project, image_bytes=image_bytes, name=f"synth-{synth_job.pk}-{index:06d}.png",
        meta=meta, objects=objects, user=user,
    )
    for suffix in (".png", ".ids.png", ".json"):
        (outdir / f"{index}{suffix}").unlink(missing_ok=True)
    return image


def _run_blender(
    shard: SynthShard, scenes: list[dict], on_image: Callable[[int, Path], None], ctx: JobContext | None = None
) -> None:
    """Render ``scenes`` in a Blender subprocess; ``on_image(index, folder)`` as each is ready.

    The worker prints ``RENDERED <index>`` once an image's files are written; a cancel of the
    job (``ctx``) stops it even in the middle of a long render.
    """
    synth_job = shard.synth_job
    project = synth_job.project
    keypoint_names = dict(LabelClass.objects.filter(project=project).values_list("pk", "keypoint_names"))
    with tempfile.TemporaryDirectory(prefix=f"lensforge-shard-{shard.pk}-") as tmp:
        shard_file, outdir = Path(tmp) / "shard.json", Path(tmp) / "out"
        shard_file.write_text(json.dumps({
            "device": getattr(settings, "SYNTH_RENDER_DEVICE", "auto"),
            "assets": _asset_paths(project),
            "keypoint_names": {str(k): v for k, v in keypoint_names.items() if v},
            "scenes": scenes,
        }))

        def on_line(line: str) -> None:
            if line.startswith("RENDERED "):
                on_image(int(line.split()[1]), outdir)

        subprocess_run(
            _worker_command(shard_file, outdir), on_line=on_line, ctx=ctx, cwd=PROJECT_ROOT, name="The Blender worker"
        )


def _load_cutouts(synth_job: SynthJob) -> list[compositor.Cutout]:
    project, spec = synth_job.project, synth_job.spec
    cutouts: list[compositor.Cutout] = []
    for cls in spec["classes"]:
        for source in cls["assets"]:
            asset = Asset.objects.get(pk=int(source[6:]), project=project)
            rgba = cv2.imread(str(storage.media_path(asset.file)), cv2.IMREAD_UNCHANGED)
            cutouts.append(compositor.cutout_from_rgba(rgba, label=cls["label"], origin={"asset": asset.pk}))
        if not cls.get("use_annotated_masks"):
            continue
        masks = (
            Annotation.objects.filter(label_id=cls["label"], kind=Annotation.Kind.MASK, image__project=project)
            .exclude(image__source=Image.Source.SYNTHETIC)
            .select_related("image")
            .order_by("id")[:MAX_MASK_CUTOUTS_PER_CLASS]
        )
        for ann in masks:
            bgr = cv2.imread(str(storage.media_path(ann.image.file)), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            # The cut-out's keypoints: those of the mask's object (its group); for an ungrouped
            # mask, the image's only keypoints set of the label when the mask is its only mask.
            same = list(Annotation.objects.filter(image=ann.image, label_id=cls["label"]).values("kind", "geometry", "group"))
            if ann.group is not None:
                kps = [a["geometry"]["points"] for a in same if a["kind"] == "keypoints" and a["group"] == ann.group]
                keypoints = kps[0] if kps else None
            else:
                kps = [a["geometry"]["points"] for a in same if a["kind"] == "keypoints"]
                n_masks = sum(1 for a in same if a["kind"] == "mask")
                keypoints = kps[0] if len(kps) == 1 and n_masks == 1 else None
            cutouts.append(
                compositor.cutout_from_mask(
                    bgr, rle_to_mask(ann.geometry), label=cls["label"], keypoints=keypoints,
                    origin={"image": ann.image_id, "annotation": ann.pk},
                )
            )
    if not cutouts:
        raise JobError("No cut-out could be loaded for the job's classes.")
    return cutouts


def cutpaste_render(spec: dict, index: int, backgrounds: dict[int, np.ndarray], cutouts) -> tuple[np.ndarray, list, dict]:
    """Image ``index`` of a cut-and-paste spec: the same spec and index give the same image."""
    rng = np.random.default_rng([spec["seed"], index])
    width, height = spec["resolution"]
    background_id = spec["backgrounds"][int(rng.integers(len(spec["backgrounds"])))]
    blending = spec["blending"][int(rng.integers(len(spec["blending"])))]
    objects = int(rng.integers(spec["objects_per_image"][0], spec["objects_per_image"][1] + 1))
    canvas, pasted = compositor.compose(
        backgrounds[background_id], cutouts, rng=rng, objects=objects, scale=tuple(spec["scale"]),
        rotation=tuple(spec["rotation"]), truncation=tuple(spec["truncation"]), flip=spec["flip"], blending=blending,
    )
    meta = {"index": index, "seed": spec["seed"], "background": background_id, "blending": blending,
            "objects": [p.params for p in pasted]}
    return canvas, pasted, meta


def _run_cutpaste(shard: SynthShard, indexes: list[int], on_image: Callable[[int, bytes, list, dict], None]) -> None:
    synth_job = shard.synth_job
    spec = synth_job.spec
    width, height = spec["resolution"]
    backgrounds = {}
    for asset in Asset.objects.filter(project=synth_job.project, pk__in=spec["backgrounds"]):
        image = cv2.imread(str(storage.media_path(asset.file)), cv2.IMREAD_COLOR)
        if image is None:
            raise JobError(f"The background asset {asset.pk} cannot be read.")
        backgrounds[asset.pk] = compositor.fit_background(image, width, height)
    cutouts = _load_cutouts(synth_job)
    for index in indexes:
        canvas, pasted, meta = cutpaste_render(spec, index, backgrounds, cutouts)
        ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 95])
        objects = [{"label": p.label, "mask": p.mask, "keypoints": p.keypoints, "instance": k + 1} for k, p in enumerate(pasted)]
        on_image(index, encoded.tobytes(), objects, meta)


def shard_run(*, shard: SynthShard, ctx: JobContext) -> dict:
    """Job work for one shard: generate its images not stored yet, storing each as it comes."""
    synth_job = SynthJob.objects.select_related("project", "created_by").get(pk=shard.synth_job_id)
    shard.synth_job = synth_job
    if _parent_cancelled(synth_job):
        raise JobCancelled()
    user = synth_job.created_by
    done = len(shard.image_ids)  # a retried shard goes on where it stopped
    indexes = list(range(shard.start + done, shard.start + shard.count))

    def stored(image: Image) -> None:
        shard.image_ids.append(image.pk)
        SynthShard.objects.filter(pk=shard.pk).update(image_ids=shard.image_ids)
        if _parent_cancelled(synth_job):
            raise JobCancelled()
        # The report also brings the synth job's Job (the group's parent) up to date.
        ctx.progress(len(shard.image_ids) / shard.count, f"{len(shard.image_ids)} of {shard.count} images", force=True)

    if synth_job.generator == SynthJob.Generator.BLENDER:
        scenes = [scene_sample(synth_job.spec, i) for i in indexes]
        if scenes:
            _run_blender(
                shard, scenes, lambda index, outdir: stored(_store_rendered(synth_job, outdir, index, user)), ctx
            )
    else:
        def on_composed(index: int, data: bytes, objects: list, meta: dict) -> None:
            meta = {"synth_job": synth_job.pk, "generator": "cutpaste", **meta}
            stored(synthetic_image_store(
                project=synth_job.project, image_bytes=data, name=f"synth-{synth_job.pk}-{index:06d}.jpg",
                meta=meta, objects=objects, user=user,
            ))

        _run_cutpaste(shard, indexes, on_composed)
    return {"images": len(shard.image_ids), "image_ids": shard.image_ids}


def synth_job_images(*, synth_job: SynthJob, limit: int = 12) -> list[int]:
    """Ids of the job's first stored images, in shard order."""
    ids: list[int] = []
    for image_ids in SynthShard.objects.filter(synth_job=synth_job).order_by("number").values_list("image_ids", flat=True):
        ids.extend(image_ids)
        if len(ids) >= limit:
            break
    return ids[:limit]

