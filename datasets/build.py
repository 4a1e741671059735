"""Building a dataset version: a pipeline of steps over a stream of items.

A build runs, in order::

    select -> assign splits -> preprocess -> [registered steps] -> freeze (rows, counts, hash)

Each step takes the :class:`~datasets.pipeline.BuildContext` and an iterable of
:class:`~datasets.pipeline.VersionItem` and returns an iterable of items; steps are generators,
so the whole build streams and only one batch of rows is in memory. Freezing
(:func:`freeze_items`) links the files into storage owned by the version, writes the
:class:`~datasets.models.VersionImage` rows with the registered materializers' per-image text,
and accumulates the counts and the content hash. Steps and materializers of other apps register
themselves (:mod:`datasets.pipeline`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import cv2
import numpy as np
from django.conf import settings
from django.db import connection
from PIL import Image as PILImage

from annotate import storage
from annotate.geometry import (
    GeometryError,
    annotations_regroup,
    mask_to_rle,
    objects_of,
    rle_to_mask,
    validate_geometry,
    validate_groups,
)
from annotate.models import Annotation, Image, LabelClass, Split
from annotate.splits import split_for_key, split_key
from jobs.runner import JobError

from .models import VersionImage
from .pipeline import BuildContext, BuildStep, VersionItem, registered_materializers, registered_steps

SPLITS = (Split.TRAIN, Split.VAL, Split.TEST)
FREEZE_BATCH = 500  # images read per page
INSERT_BATCH = 250  # rows per INSERT: 16 parameters each stays below SQLite's variable limit
LETTERBOX_FILL = (114, 114, 114)


# --- selection ------------------------------------------------------------------------------
def selected_images(*, project, params: dict):
    """The project images a version with these parameters includes (without annotations)."""
    images = Image.objects.filter(project=project, source__in=params["image_sources"])
    if not params["include_unannotated"]:
        images = images.filter(
            pk__in=Annotation.objects.filter(
                image__project=project, source__in=params["annotation_sources"]
            ).values("image_id")
        )
    return images.order_by("id")


IMAGE_FIELDS = ("id", "file", "sha256", "mime_type", "width", "height", "original_name", "source", "split", "meta")
ANNOTATION_FIELDS = ("image_id", "label_id", "kind", "geometry", "attributes", "source", "group")


def step_select(ctx: BuildContext, items: Iterable[VersionItem]) -> Iterator[VersionItem]:
    """The chosen images with the annotations of the chosen sources, label ids turned into names.

    Rows are read as plain values, a page at a time (building model instances cost more than
    the rest of the build together). Each page is read completely: no cursor stays open while
    later stages write (on SQLite that makes their writes fail once the job's heartbeat wrote).
    """
    yield from items  # items before selection (none today) pass through
    project = ctx.version.project
    names = dict(LabelClass.objects.filter(project=project).values_list("id", "name"))
    sources = ctx.params["annotation_sources"]
    ids = list(selected_images(project=project, params=ctx.params).values_list("id", flat=True))
    ctx.total = len(ids)  # for the freeze's progress
    for start in range(0, len(ids), FREEZE_BATCH):
        page = ids[start:start + FREEZE_BATCH]
        chosen: dict[int, list[dict]] = defaultdict(list)
        annotations = Annotation.objects.filter(image_id__in=page, source__in=sources).order_by("id")
        for image_id, label_id, kind, geometry, attributes, source, group in annotations.values_list(*ANNOTATION_FIELDS):
            frozen = {"label": names[label_id], "kind": kind, "geometry": geometry, "attributes": attributes or {},
                      "source": source}
            if group is not None:  # absent when ungrouped: versions of ungrouped data hash as before
                frozen["group"] = group
            chosen[image_id].append(frozen)
        for pk, file, sha256, mime_type, width, height, original_name, source, split, meta in list(
            Image.objects.filter(pk__in=page).order_by("id").values_list(*IMAGE_FIELDS)
        ):
            yield VersionItem(
                file=file, sha256=sha256, mime_type=mime_type, width=width, height=height,
                original_name=original_name, source=source, split=split, image_id=pk, meta=dict(meta or {}),
                annotations=chosen.get(pk, []),
            )


def step_split(ctx: BuildContext, items: Iterable[VersionItem]) -> Iterator[VersionItem]:
    """Keep the project's splits (placing unassigned images by seed and ratios), or re-split all.

    Either way the placement is a pure function of the image content and the seed
    (:func:`annotate.splits.split_key`), so it is reproducible and the project is not touched.
    """
    spec = ctx.params["split"]
    ratios = (spec["train"], spec["val"], spec["test"])
    for item in items:
        if spec["mode"] == "ratios" or item.split not in SPLITS:
            item.split = split_for_key(split_key(item.sha256, spec["seed"]), ratios)
        yield item


# --- preprocessing --------------------------------------------------------------------------
@dataclass(frozen=True)
class Resize:
    """Map from source pixels to target pixels: x' = x * sx + dx, y' = y * sy + dy."""

    width: int
    height: int
    sx: float
    sy: float
    dx: float
    dy: float
    inner_width: int  # the size the picture itself is scaled to (without letterbox bars)
    inner_height: int

    @classmethod
    def plan(cls, mode: str, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Resize:
        if mode == "stretch":
            return cls(dst_w, dst_h, dst_w / src_w, dst_h / src_h, 0.0, 0.0, dst_w, dst_h)
        scale = min(dst_w / src_w, dst_h / src_h)
        inner_w, inner_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        dx, dy = (dst_w - inner_w) // 2, (dst_h - inner_h) // 2
        # The exact scale of the resized picture, so its edges map onto pixel edges.
        return cls(dst_w, dst_h, inner_w / src_w, inner_h / src_h, float(dx), float(dy), inner_w, inner_h)

    def point(self, x: float, y: float) -> tuple[float, float]:
        return (
            min(max(x * self.sx + self.dx, 0.0), float(self.width)),
            min(max(y * self.sy + self.dy, 0.0), float(self.height)),
        )


def transform_geometry(kind: str, geometry: dict, resize: Resize) -> dict | None:
    """An annotation's geometry after the resize; None if it vanished (a mask too thin to keep)."""
    if kind == "box":
        x0, y0 = resize.point(geometry["x"], geometry["y"])
        x1, y1 = resize.point(geometry["x"] + geometry["w"], geometry["y"] + geometry["h"])
        return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}
    if kind == "polygon":
        parts = []
        for part in geometry["polygons"]:
            coords: list[float] = []
            for i in range(0, len(part), 2):
                coords.extend(resize.point(part[i], part[i + 1]))
            parts.append(coords)
        return {"polygons": parts}
    if kind == "keypoints":
        points = []
        for x, y, v in geometry["points"]:
            points.append([*resize.point(x, y), v] if v else [0.0, 0.0, 0])
        return {"points": points}
    if kind == "mask":
        mask = rle_to_mask(geometry)
        scaled = cv2.resize(mask, (resize.inner_width, resize.inner_height), interpolation=cv2.INTER_NEAREST)
        canvas = np.zeros((resize.height, resize.width), dtype=np.uint8)
        dx, dy = int(resize.dx), int(resize.dy)
        canvas[dy:dy + resize.inner_height, dx:dx + resize.inner_width] = scaled
        if not canvas.any():
            return None
        return mask_to_rle(canvas)
    return dict(geometry)


def _encode(picture: PILImage.Image, mime_type: str) -> tuple[bytes, str, str]:
    out = io.BytesIO()
    if mime_type == "image/png":
        picture.save(out, "PNG")
        return out.getvalue(), "png", "image/png"
    if picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    picture.save(out, "JPEG", quality=95)
    return out.getvalue(), "jpg", "image/jpeg"


def resize_item(item: VersionItem, mode: str, width: int, height: int) -> VersionItem:
    """The item with its picture resized (stretch or letterbox) and every annotation moved with it."""
    plan = Resize.plan(mode, item.width, item.height, width, height)
    with PILImage.open(storage.media_path(item.file)) as source:
        source.load()
        picture = source.resize((plan.inner_width, plan.inner_height), PILImage.Resampling.BILINEAR)
        if mode == "letterbox":
            fill = LETTERBOX_FILL if picture.mode in ("RGB", "RGBA") else LETTERBOX_FILL[0]
            canvas = PILImage.new(picture.mode, (width, height), fill)
            canvas.paste(picture, (int(plan.dx), int(plan.dy)))
            picture = canvas
    data, extension, mime_type = _encode(picture, item.mime_type)
    sha = hashlib.sha256(data).hexdigest()
    relative = storage.write_atomic(f"versions/{sha[:2]}/{sha}.{extension}", data)
    annotations = []
    for annotation in item.annotations:
        geometry = transform_geometry(annotation["kind"], annotation["geometry"], plan)
        if geometry is not None:
            annotations.append({**annotation, "geometry": geometry})
    item.meta = {**item.meta, "resized_from": [item.width, item.height]}
    item.file, item.sha256, item.mime_type = relative, sha, mime_type
    item.width, item.height, item.annotations = width, height, annotations
    return item


def step_preprocess(ctx: BuildContext, items: Iterable[VersionItem]) -> Iterator[VersionItem]:
    """Resize to W x H (stretch or letterbox) when asked. Auto-orient already happened at upload."""
    resize = (ctx.params.get("preprocessing") or {}).get("resize")
    for item in items:
        if resize:
            item = resize_item(item, resize["mode"], resize["width"], resize["height"])
        yield item


def build_steps() -> list[BuildStep]:
    """The steps of a build, in order (freezing is done by :func:`freeze_items` after them)."""
    return [step_select, step_split, step_preprocess, *(step.run for step in registered_steps())]


# --- freezing -------------------------------------------------------------------------------
def _owned_file(item: VersionItem) -> str:
    """A path for the item's bytes that belongs to versions, so deleting the project image keeps it.

    A hard link where the filesystem allows (no bytes copied), else a copy; plain string paths,
    as this runs once per image.
    """
    if item.file.startswith("versions/"):
        return item.file
    extension = os.path.splitext(item.file)[1]
    relative = f"versions/{item.sha256[:2]}/{item.sha256}{extension}"
    root = str(settings.MEDIA_ROOT)
    target = os.path.join(root, relative)
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.tmp-{os.getpid()}"
        source = os.path.join(root, item.file)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    return relative


class _Names:
    """Unique file names (and stems: VOC lists images by stem) within a version."""

    def __init__(self) -> None:
        self.stems: set[str] = set()

    def take(self, original: str, sha256: str, mime_type: str) -> str:
        extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
                     "image/bmp": ".bmp", "image/tiff": ".tif"}.get(mime_type, ".img")
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in PurePosixPath(original).stem).strip("._")
        stem = (stem or sha256[:12])[:100]
        candidate, n = stem, 1
        while candidate.lower() in self.stems:
            n += 1
            candidate = f"{stem}_{n}"
        self.stems.add(candidate.lower())
        return candidate + extension


_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_dumps_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False).encode


def item_digest(*, sha256: str, file_name: str, split: str, width: int, height: int, annotations_json: str) -> str:
    """What the content hash sees of one frozen image (its annotations as JSON with sorted keys)."""
    head = _dumps([sha256, file_name, split, width, height])
    return hashlib.sha256((head + annotations_json).encode()).hexdigest()


ROW_COLUMNS = ("version_id", "index", "source_image_id", "file", "sha256", "mime_type", "file_name", "width",
               "height", "split", "source", "annotations", "object_offset", "coco", "yolo", "meta")


def _insert_rows(rows: list[tuple]) -> None:
    """Insert frozen rows with one multi-row ``INSERT`` (JSON columns already encoded).

    The rows are plain tuples: a version build writes every image once and never reads the rows
    back, so building model instances for ``bulk_create`` was most of the freezing time.
    """
    if not rows:
        return
    table = connection.ops.quote_name(VersionImage._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in ROW_COLUMNS)
    placeholders = "(" + ", ".join(["%s"] * len(ROW_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(rows))}",
                       [value for row in rows for value in row])


def selected_kinds(*, project, params: dict) -> set[str]:
    """The annotation kinds the selection holds (what materializers plan for before freezing)."""
    chosen = selected_images(project=project, params=params).values("id")
    return set(
        Annotation.objects.filter(image_id__in=chosen, source__in=params["annotation_sources"])
        .values_list("kind", flat=True).distinct().order_by()
    )


def freeze_items(ctx: BuildContext, items: Iterable[VersionItem], *, kinds_expected: set[str] | None = None) -> dict:
    """Write the version's rows in batches; return counts, the content hash and what was materialized.

    ``kinds_expected`` (the selection's annotation kinds) lets materializers plan their per-image
    text before the rows exist; a materializer whose plan the frozen kinds contradict is dropped.
    """
    version = ctx.version
    planned = kinds_expected if kinds_expected is not None else set()
    makers = {}
    for materializer in registered_materializers():
        maker = materializer.row_text(version, planned)
        if maker is not None:
            makers[materializer.name] = (materializer, maker)
    names = _Names()
    images_per_split: Counter = Counter()
    objects: dict[str, Counter] = defaultdict(Counter)
    kinds: Counter = Counter()
    digests: list[str] = []
    batch: list[tuple] = []
    index = 0
    annotation_count = 0
    known = set(version.label_names)
    object_offset = 0
    keypoint_names = {label["name"]: label.get("keypoint_names") or [] for label in version.labels}
    for item in items:
        if item.split not in SPLITS:
            raise JobError(f"Image {item.original_name!r} is in split {item.split!r}; a version has train, val and test.")
        for annotation in item.annotations:
            if annotation["label"] not in known:
                raise JobError(f"Image {item.original_name!r} has an annotation with unknown label {annotation['label']!r}.")
            if item.image_id is None:  # made by a pipeline step (e.g. augmentation): check it like any input
                try:
                    annotation["geometry"] = validate_geometry(
                        annotation["kind"], annotation["geometry"], width=item.width, height=item.height,
                        keypoint_names=keypoint_names[annotation["label"]],
                    )
                except GeometryError as exc:
                    raise JobError(f"A generated image ({item.original_name!r}) has invalid geometry: {exc}") from None
        if item.image_id is None and (problems := validate_groups(item.annotations)):
            raise JobError(f"A generated image ({item.original_name!r}) has a broken object group: {next(iter(problems.values()))}")
        # Canonical groups (a step may have dropped a part, leaving a group of one).
        item.annotations = annotations_regroup(item.annotations)
        image_objects = objects_of(item.annotations)
        file_name = names.take(item.original_name, item.sha256, item.mime_type)
        annotations_json = _dumps(item.annotations)  # stored as given: key order is the writers' business
        texts = dict.fromkeys(VersionImage.MATERIALIZED_COLUMNS, "")
        for name, (_, maker) in makers.items():
            texts[name] = maker(item.annotations, index=index, offset=object_offset, width=item.width,
                                height=item.height)
        batch.append((
            version.pk, index, item.image_id, _owned_file(item), item.sha256, item.mime_type, file_name, item.width,
            item.height, item.split, item.source, annotations_json, object_offset, texts["coco"], texts["yolo"],
            _dumps(item.meta),
        ))
        digests.append(item_digest(sha256=item.sha256, file_name=file_name, split=item.split, width=item.width,
                                   height=item.height, annotations_json=_dumps_sorted(item.annotations)))
        object_offset += len(image_objects)
        images_per_split[item.split] += 1
        for obj in image_objects:  # an object with a box, a mask and keypoints counts once
            objects[item.split][obj.label] += 1
        for annotation in item.annotations:
            if annotation["kind"] == "tag":  # an image-level class counts as one object of it
                objects[item.split][annotation["label"]] += 1
            kinds[annotation["kind"]] += 1
        annotation_count += len(item.annotations)
        index += 1
        if len(batch) >= INSERT_BATCH:
            _insert_rows(batch)
            batch.clear()
        if ctx.total:
            message = f"Froze {index} of {ctx.total} images" if index % FREEZE_BATCH == 0 else None
            ctx.progress(min(index / ctx.total, 1.0) * 0.95, message)
    _insert_rows(batch)
    if index == 0:
        raise JobError("No images match the version's selection; nothing to build.")
    content = hashlib.sha256()
    content.update(json.dumps(version.labels, sort_keys=True).encode())
    for digest in sorted(digests):
        content.update(digest.encode())
    counts = {
        "images": {split: images_per_split.get(split, 0) for split in SPLITS},
        "objects": {split: {name: objects[split].get(name, 0) for name in version.label_names} for split in SPLITS},
        "kinds": dict(sorted(kinds.items())),
    }
    frozen_kinds = set(kinds)
    materialized = {
        name: materializer.revision for name, (materializer, _) in makers.items()
        if materializer.key(version, frozen_kinds) == materializer.key(version, planned)
    }
    return {
        "counts": counts, "image_count": index, "annotation_count": annotation_count,
        "content_hash": content.hexdigest(), "materialized": materialized,
    }


def run_pipeline(ctx: BuildContext) -> dict:
    """Run every step over the stream and freeze what comes out."""
    kinds = selected_kinds(project=ctx.version.project, params=ctx.params)
    stream: Iterable[VersionItem] = iter(())
    for step in build_steps():
        stream = step(ctx, stream)
    return freeze_items(ctx, stream, kinds_expected=kinds)
