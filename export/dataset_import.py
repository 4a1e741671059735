"""Importing a dataset (COCO, YOLO, VOC, image folders) into a project, all or nothing.

The import runs in three passes so that a dataset with problems changes nothing:

1. the format's reader parses the annotation files (:mod:`export.dataset_importers`);
2. every image is read and checked (:func:`annotate.imaging.check_image_bytes`) and every object's
   geometry validated against it (:func:`annotate.geometry.validate_geometry`), collecting every
   problem in a :class:`ProblemReport` instead of stopping at the first;
3. only when there is no problem at all: image files are stored (content-addressed, so storing
   is idempotent) and labels, images and annotations are created in one transaction.

Labels are matched by name (a keypoint label must have the same keypoints). Every image entry of
the dataset becomes its own project image with its own annotations, even when two entries are
byte-identical files (the file itself is stored once, by content); the summary counts and lists
such pairs (``duplicate_files``, ``duplicate_file_pairs``), and when they land in different splits
the health report shows them as a split leak. Each imported image records its dataset-relative
path in ``meta["import_path"]``, so re-importing the same dataset adds nothing: an entry whose
bytes and path match an image imported earlier is that image. An entry whose bytes match an image
that was not imported (an upload) is that image too, as uploads de-duplicate by content: one such
image stands for one entry of the dataset, and any further identical entries become new images.
An existing image gets the entry's annotations only if it has none yet. In an image folder, the same
file under the same name in several class folders of a split is one image of several classes. Splits come
from the dataset. With ``clip``, boxes, polygons and keypoints that stick out of the image by at
most :data:`CLIP_MAX_FRACTION` of its size are clipped to it (and counted) instead of being
refused. Annotations drawn on the raw pixels of a photo whose EXIF
orientation turns it a quarter (the dataset gives the raw size) are turned upright with it.

Broken image files (damaged, truncated, too large, unreadable) are problems like any other, and the
refusal says that ``skip_broken`` exists: with it they are left out, with their annotations, and
the summary lists them (``skipped``: file and reason); every other problem still refuses the
dataset. A JPEG that only lacks its end-of-image marker is not broken: it is stored repaired and
listed under ``repaired`` (:func:`annotate.imaging.jpeg_missing_eoi_repaired`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count

from annotate import services as annotate_services
from annotate import storage
from annotate.archives import ArchiveRejected
from annotate.geometry import GeometryError, groups_renumber, validate_geometry
from annotate.imaging import CheckedImage, ImageRejected, check_image_bytes
from annotate.models import Annotation, Image, LabelClass, Project, Split
from annotate.services import AnnotationRow
from annotate.uploads import (
    KEEP_IMAGE_BYTES,
    ImageEntry,
    KeptBytes,
    bytes_checked_again,
    images_create_bulk,
    project_images_lock,
    zip_upload_spool,
)
from jobs.models import Job
from jobs.runner import JobError
from jobs.services import job_create, job_set_result, job_submit

from .dataset_importers import FORMATS, READERS
from .dataset_importers.common import (
    DatasetFiles,
    ImageSpec,
    ImportRefused,
    LabelSpec,
    ObjectSpec,
    ParsedDataset,
    ProblemReport,
    dataset_files_open,
    refuse,
)
from .dataset_importers.orientation import QUARTER_TURNS, orientation_of, to_upright

# How far (as a fraction of the image's width or height) a box, polygon point or keypoint may
# stick out of the image and still be clipped to it with ``clip``; anything further is refused.
CLIP_MAX_FRACTION = 0.1
# Normalised coordinates (YOLO) are written rounded, typically to 6 decimals, so a box touching the
# image's edge can end a hair beyond it; up to this much (a fraction of the size) is rounding.
NORMALIZED_ROUNDING = 1e-4
QUERY_BATCH = 500
MAX_REPORTED_FILES = 1000  # entries of the summary's ``skipped`` and ``repaired`` lists (counts are whole)
SKIP_BROKEN_HINT = (
    "{count} of the problems are broken image files: import again with skip_broken=1 (manage.py import_dataset "
    "--skip-broken) to import everything else and list them under 'skipped'"
)
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
    "#808000", "#ffd8b1", "#000075", "#808080",
)


class _NoProgress:
    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None:
        pass


@dataclass
class _CheckedImage:
    spec: ImageSpec
    checked: CheckedImage  # its ``data`` may be dropped (b"") to bound memory
    kept: bool
    size_bytes: int
    # label, kind, geometry, attrs, group (the reader's number: made canonical when written)
    objects: list[tuple[str, str, dict, dict, int | None]] = field(default_factory=list)


# --- request-time checks --------------------------------------------------------------------
def guess_format(files: DatasetFiles) -> str | None:
    """The format a dataset looks like from its file names alone (for hints in messages)."""
    names = [name.lower() for name in files.names]
    if any(name.endswith((".yaml", ".yml")) or name.endswith("/classes.txt") for name in names):
        return "yolo"
    if any(name.endswith(".xml") for name in names):
        return "voc"
    if any(name.endswith(".json") for name in names):
        return "coco"
    if files.images() and READERS["imagefolder"].sniff(files) is None:
        return "imagefolder"
    return None


def format_mismatch(files: DatasetFiles, format: str) -> str | None:
    """Why the files cannot be a dataset in ``format`` (with a hint at what they look like), or None."""
    if format not in READERS:
        return f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}."
    problem = READERS[format].sniff(files)
    if problem is None:
        return None
    guess = guess_format(files)
    if guess and guess != format:
        problem += f" The files look like a {guess} dataset."
    return problem


def import_archive_check(*, path: str | Path, format: str) -> int:
    """Check an uploaded archive before queueing its import; returns how many files it holds.

    Raises ``ValidationError`` (a 400) for an unsafe or unreadable archive (links, ``..``, a zip
    bomb, not a zip), an empty one, or one whose files cannot be in ``format``.
    """
    if format not in READERS:
        raise ValidationError({"format": f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}."})
    try:
        with dataset_files_open(path) as files:
            if not files.names:
                raise ValidationError({"file": "The archive holds no files."})
            problem = format_mismatch(files, format)
            count = len(files.names)
    except ArchiveRejected as exc:
        raise ValidationError({"file": str(exc)}) from None
    if problem:
        raise ValidationError({"format": problem})
    return count


# --- geometry helpers -----------------------------------------------------------------------
def _finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _unit(value: float) -> float:
    """A normalised coordinate, with rounding just past the image's edge taken back to the edge."""
    if -NORMALIZED_ROUNDING <= value < 0:
        return 0.0
    if 1 < value <= 1 + NORMALIZED_ROUNDING:
        return 1.0
    return value


def _to_pixels(kind: str, geometry: dict, width: int, height: int) -> dict:
    """Normalised (0..1) coordinates to pixels; anything malformed is left for validation to report."""
    if kind == "box" and _finite(*(geometry.get(k) for k in "xywh")):
        x0, y0 = _unit(geometry["x"]), _unit(geometry["y"])
        x1, y1 = _unit(geometry["x"] + geometry["w"]), _unit(geometry["y"] + geometry["h"])
        return {"x": x0 * width, "y": y0 * height, "w": (x1 - x0) * width, "h": (y1 - y0) * height}
    if kind == "polygon":
        return {
            "polygons": [
                [_unit(v) * (width if i % 2 == 0 else height) for i, v in enumerate(part)]
                for part in geometry["polygons"]
            ]
        }
    if kind == "keypoints":
        return {
            "points": [[_unit(x) * width, _unit(y) * height, v] if v else [0.0, 0.0, v] for x, y, v in geometry["points"]]
        }
    return geometry


def _clamp(value: float, limit: int) -> float | None:
    """``value`` moved into [0, limit] if it is at most CLIP_MAX_FRACTION * limit outside, else None."""
    margin = CLIP_MAX_FRACTION * limit
    if -margin <= value < 0:
        return 0.0
    if limit < value <= limit + margin:
        return float(limit)
    return value if 0 <= value <= limit else None


def clip_geometry(kind: str, geometry: dict, width: int, height: int) -> tuple[dict, bool]:
    """Clip a geometry that sticks slightly out of the image; returns (geometry, whether it changed).

    Geometry that is malformed or too far out is returned unchanged, for validation to refuse.
    """
    if kind == "box" and _finite(*(geometry.get(k) for k in "xywh")):
        x0, y0 = geometry["x"], geometry["y"]
        x1, y1 = x0 + geometry["w"], y0 + geometry["h"]
        corners = [_clamp(x0, width), _clamp(y0, height), _clamp(x1, width), _clamp(y1, height)]
        if None in corners or corners == [x0, y0, x1, y1] or corners[2] <= corners[0] or corners[3] <= corners[1]:
            return geometry, False
        cx0, cy0, cx1, cy1 = corners
        return {"x": cx0, "y": cy0, "w": cx1 - cx0, "h": cy1 - cy0}, True
    if kind == "polygon" and isinstance(geometry.get("polygons"), list):
        parts, changed = [], False
        for part in geometry["polygons"]:
            if not isinstance(part, list) or not _finite(*part):
                return geometry, False
            new = [_clamp(v, width if i % 2 == 0 else height) for i, v in enumerate(part)]
            if None in new:
                return geometry, False
            changed |= new != part
            parts.append(new)
        return ({"polygons": parts}, True) if changed else (geometry, False)
    if kind == "keypoints" and isinstance(geometry.get("points"), list):
        points, changed = [], False
        for point in geometry["points"]:
            if not (isinstance(point, list) and len(point) == 3 and _finite(*point)) or not point[2]:
                points.append(point)
                continue
            x, y = _clamp(point[0], width), _clamp(point[1], height)
            if x is None or y is None:
                return geometry, False
            changed |= [x, y] != point[:2]
            points.append([x, y, point[2]])
        return ({"points": points}, True) if changed else (geometry, False)
    return geometry, False


# --- the import -----------------------------------------------------------------------------
def _labels_check(*, project: Project, dataset: ParsedDataset, report: ProblemReport) -> dict[str, LabelSpec]:
    """The label each name will be: the project's own when it exists (keypoints must agree)."""
    existing = {label.name: label for label in LabelClass.objects.filter(project=project)}
    resolved: dict[str, LabelSpec] = {}
    for name, spec in dataset.labels.items():
        label = existing.get(name)
        if label is None:
            names = spec.keypoint_names
            if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
                report.add("", f"The keypoint names of {name!r} must be unique, non-empty names.", f"label {name!r}")
            resolved[name] = spec
            continue
        if spec.keypoint_names and label.keypoint_names != spec.keypoint_names:
            if not (spec.generated_names and len(label.keypoint_names) == len(spec.keypoint_names)):
                report.add(
                    "", f"The project's label {name!r} has keypoints {label.keypoint_names}; the dataset's has "
                    f"{spec.keypoint_names}.", f"label {name!r}",
                )
        resolved[name] = LabelSpec(name, list(label.keypoint_names), list(label.skeleton))
    return resolved


def _object_prepare(obj: ObjectSpec, label: LabelSpec, width: int, height: int, clip: bool) -> tuple[dict, dict, bool]:
    """(cleaned geometry, attributes, clipped) for one object; raises GeometryError."""
    geometry, attributes = obj.geometry, dict(obj.attributes)
    if obj.normalized:
        try:
            geometry = _to_pixels(obj.kind, geometry, width, height)
        except (TypeError, ValueError, KeyError):
            raise GeometryError("The coordinates are not numbers.") from None
    clipped = False
    if clip:
        geometry, clipped = clip_geometry(obj.kind, geometry, width, height)
    cleaned = validate_geometry(obj.kind, geometry, width=width, height=height, keypoint_names=label.keypoint_names)
    return cleaned, attributes, clipped


def _same_image_in_class_folders(format: str, first: ImageSpec, spec: ImageSpec) -> bool:
    """Whether an image-folder entry is an earlier one's file in another class folder (same name and split).

    That is how an image of several classes is laid out in an image folder, so it is one image.
    """
    return (
        format == "imagefolder" and first.split == spec.split
        and first.file.rsplit("/", 1)[-1] == spec.file.rsplit("/", 1)[-1]
    )


def _check_images(
    *, files: DatasetFiles, dataset: ParsedDataset, labels: dict[str, LabelSpec], clip: bool, report: ProblemReport, ctx,
    skip_broken: bool = False,
) -> tuple[list[_CheckedImage], dict]:
    """Read and check every image and its objects; problems go to ``report``.

    Broken image files go to the stats' ``skipped`` instead with ``skip_broken``, and are counted
    (``broken``) otherwise, for the hint at that option.
    """
    checked: list[_CheckedImage] = []
    first_of: dict[str, _CheckedImage] = {}  # sha256 -> the first entry with those bytes
    stats: Counter = Counter()
    duplicates: list[dict] = []
    skipped: list[dict] = []
    repaired: list[str] = []
    budget = KeptBytes(KEEP_IMAGE_BYTES)  # bytes stay in memory up to this; the rest are read again when stored
    total = max(len(dataset.images), 1)
    for index, spec in enumerate(dataset.images):
        ctx.progress(0.05 + 0.75 * index / total, f"Checking {spec.file}" if index % 50 == 0 else None)
        broken = None
        try:
            data = files.read(spec.file, limit=settings.IMAGE_MAX_BYTES)  # an image, whatever its name
            image = check_image_bytes(data)
        except (ImageRejected, ArchiveRejected) as exc:
            broken = str(exc)
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow gives up on some truncated headers
            broken = f"The image is damaged or truncated ({exc})."
        if broken is not None:
            if skip_broken:
                skipped.append({"file": spec.file, "reason": broken})
            else:
                report.add(spec.file, broken)
                stats["broken"] += 1
            continue
        if image.repaired:
            repaired.append(spec.file)
        objects_in = spec.objects
        swapped = bool(spec.size) and image.width != image.height and spec.size == (image.height, image.width)
        if swapped and orientation_of(data) in QUARTER_TURNS:  # drawn on the raw pixels, EXIF ignored
            orientation, (raw_width, raw_height) = orientation_of(data), spec.size
            objects_in = [
                replace(obj, geometry=to_upright(obj.kind, obj.geometry, orientation, raw_width, raw_height))
                for obj in spec.objects
            ]
            stats["turned_upright"] += 1
        elif spec.size and spec.size != (image.width, image.height):
            report.add(
                spec.where or spec.file,
                f"It gives the size of {spec.file} as {spec.size[0]}x{spec.size[1]}, but the image is "
                f"{image.width}x{image.height} (after its EXIF orientation is applied).",
            )
            continue
        objects = []
        for obj in objects_in:
            label = labels[obj.label]
            try:
                geometry, attributes, clipped = _object_prepare(obj, label, image.width, image.height, clip)
            except GeometryError as exc:
                report.add(spec.where or spec.file, str(exc), obj.where)
                continue
            stats["clipped"] += clipped
            objects.append((obj.label, obj.kind, geometry, attributes, obj.group))
        first = first_of.get(image.sha256)
        if first is not None and _same_image_in_class_folders(dataset.format, first.spec, spec):
            first.objects.extend(objects)  # <split>/<class>/<name> in several class folders: several classes
            continue
        if first is not None:  # the same bytes again: its own image, sharing the stored file
            stats["duplicate_files"] += 1
            if len(duplicates) < 100:
                duplicates.append({"file": spec.file, "same_as": first.spec.file})
            checked.append(_CheckedImage(spec, first.checked, first.kept, first.size_bytes, objects))
            continue
        held = budget.keep(image)
        item = _CheckedImage(spec, held, bool(held.data), len(image.data), objects)
        first_of[image.sha256] = item
        checked.append(item)
    stats["image_files"] = len(dataset.images)
    return checked, {**stats, "duplicates": duplicates, "skipped": skipped, "repaired": repaired}


def _image_bytes(files: DatasetFiles, item: _CheckedImage) -> bytes:
    """The bytes to store for a checked image, re-read (and verified) if they were not kept."""
    if item.kept:
        return item.checked.data
    try:
        return bytes_checked_again(files.read(item.spec.file, limit=settings.IMAGE_MAX_BYTES), item.checked)
    except ImageRejected:
        raise ImportRefused(_single(item.spec.file, "The file changed while it was being imported.")) from None


def _single(file: str, message: str) -> ProblemReport:
    report = ProblemReport()
    report.add(file, message)
    return report


def import_path_of(meta: dict) -> str | None:
    """The dataset-relative path an image was imported from, or None for an image not imported.

    Images imported before ``import_path`` was recorded have it only under ``meta["import"]["file"]``.
    """
    if not isinstance(meta, dict):
        return None
    path = meta.get("import_path")
    if isinstance(path, str):
        return path
    old = meta.get("import")
    return old.get("file") if isinstance(old, dict) and isinstance(old.get("file"), str) else None


def _existing_images(project: Project, shas: list[str]) -> tuple[dict, dict]:
    """The project's images holding these contents: ({(sha, import path): row}, {sha: [rows not imported]}).

    Rows are dicts with ``id``, ``sha256`` and ``n`` (its annotation count), in id order.
    """
    by_path: dict[tuple[str, str], dict] = {}
    plain: dict[str, list[dict]] = {}
    for start in range(0, len(shas), QUERY_BATCH):  # bounded IN lists (SQLite caps query parameters)
        rows = (
            Image.objects.filter(project=project, sha256__in=shas[start:start + QUERY_BATCH])
            .annotate(n=Count("annotations"))
            .order_by("id")
            .values("id", "sha256", "meta", "n")
        )
        for row in rows:
            path = import_path_of(row["meta"])
            if path is None:
                plain.setdefault(row["sha256"], []).append(row)
            else:
                by_path.setdefault((row["sha256"], path), row)
    return by_path, plain


def _match_existing(items: list[_CheckedImage], by_path: dict, plain: dict) -> list[dict | None]:
    """For every entry, the existing image it is (or None: a new image).

    An entry is the image imported earlier from the same path with the same bytes; failing that,
    an image of the same bytes that was not imported (uploaded) stands for it, each such image for
    one entry of the dataset at most.
    """
    unclaimed = {sha: list(rows) for sha, rows in plain.items()}
    matched: list[dict | None] = []
    for item in items:
        row = by_path.get((item.checked.sha256, item.spec.file[:500]))
        if row is None and unclaimed.get(item.checked.sha256):
            row = unclaimed[item.checked.sha256].pop(0)
        matched.append(row)
    return matched


def _ensure_stored(files: DatasetFiles, items: list[_CheckedImage]) -> None:
    """Lock the files of the images about to be added and store again any removed meanwhile.

    They were stored before the transaction, and a file is shared: the last image using it, in
    another project, may have been deleted since. Under the lock (held until commit) no removal
    can happen any more (:func:`annotate.storage.files_lock`).
    """
    firsts = list({item.checked.sha256: item for item in items}.values())
    storage.files_lock(storage.image_relative_path(i.checked.sha256, i.checked.extension) for i in firsts)
    for item in firsts:
        if not storage.media_path(storage.image_relative_path(item.checked.sha256, item.checked.extension)).exists():
            storage.store_image(item.checked.sha256, item.checked.extension, _image_bytes(files, item))


def _write(
    *, project: Project, files: DatasetFiles, dataset: ParsedDataset, labels: dict[str, LabelSpec],
    items: list[_CheckedImage], user, ctx,
) -> dict:
    firsts = list({item.checked.sha256: item for item in items}.values())
    total = max(len(firsts), 1)
    for index, item in enumerate(firsts):  # files first, outside the transaction: storing is idempotent
        ctx.progress(0.8 + 0.15 * index / total, f"Storing {item.spec.file}" if index % 50 == 0 else None)
        relative = storage.image_relative_path(item.checked.sha256, item.checked.extension)
        if not storage.media_path(relative).exists():
            storage.store_image(item.checked.sha256, item.checked.extension, _image_bytes(files, item))
    ctx.progress(0.95, "Saving labels, images and annotations", force=True)
    # One import (or upload) at a time per project, so that two cannot both add the same entry.
    with project_images_lock(project=project):
        by_path, plain = _existing_images(project, [item.checked.sha256 for item in firsts])
        matched = _match_existing(items, by_path, plain)
        known = {label.name: label for label in LabelClass.objects.filter(project=project)}
        created_labels = []
        for name in dataset.labels:
            if name not in known:
                spec = labels[name]
                known[name] = annotate_services.label_create(
                    project=project, name=name, color=PALETTE[len(known) % len(PALETTE)],
                    keypoint_names=spec.keypoint_names, skeleton=spec.skeleton,
                )
                created_labels.append(name)
        new_items = [item for item, row in zip(items, matched) if row is None]
        _ensure_stored(files, new_items)
        images = images_create_bulk(
            project=project,
            entries=[
                ImageEntry.of_checked(
                    item.checked, name=item.spec.file, size_bytes=item.size_bytes, source=Image.Source.IMPORT,
                    split=item.spec.split if item.spec.split in Split.values else Split.UNASSIGNED,
                    meta={
                        "import_path": item.spec.file[:500],
                        "import": {"format": dataset.format, "file": item.spec.file[:500]},
                    },
                )
                for item in new_items
            ],
            user=user,
        )
        new_ids = iter(image.pk for image in images)
        annotations, by_kind, touched, skipped = [], Counter(), [], 0
        for item, row in zip(items, matched):
            if row is not None and row["n"]:
                skipped += 1  # already annotated in the project: left as it is
                continue
            image_id = next(new_ids) if row is None else row["id"]
            if row is not None and item.objects:
                touched.append(row["id"])
            # The parts of one object of the dataset are one group, numbered canonically (a group
            # left with one part, its others refused or skipped, is no group).
            groups = groups_renumber([obj[4] for obj in item.objects])
            for (label, kind, geometry, attributes, _), group in zip(item.objects, groups):
                annotations.append(
                    AnnotationRow(
                        image_id=image_id, label_id=known[label].pk, kind=kind, geometry=geometry,
                        attributes=attributes, source=Annotation.Source.IMPORTED, group=group,
                    )
                )
                by_kind[kind] += 1
        annotate_services.annotations_add_bulk(rows=annotations, user=user, bump_revision_of=touched)
    splits = Counter(item.spec.split for item in new_items)
    return {
        "format": dataset.format,
        "images_created": len(new_items),
        "images_existing": len(items) - len(new_items),
        "images_existing_already_annotated": skipped,
        "annotations_created": len(annotations),
        "annotations_by_kind": dict(by_kind),
        "labels_created": created_labels,
        "labels_matched": [name for name in dataset.labels if name not in created_labels],
        "splits": {split: splits.get(split, 0) for split in Split.values},
    }


def dataset_import(
    *, project: Project, path: str | Path, format: str, user=None, clip: bool = False, ctx=None,
    skip_broken: bool = False,
) -> dict:
    """Import the dataset at ``path`` (a zip or a folder) in ``format`` into the project.

    All or nothing: raises :class:`ImportRefused` with the report of every problem found (and
    nothing written) or returns a summary of what was added. ``skip_broken`` leaves broken image
    files out (listed in the summary's ``skipped``) instead of counting them as problems.
    """
    ctx = ctx or _NoProgress()
    if format not in READERS:
        raise refuse(f"Unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    try:
        files = dataset_files_open(path)
    except ArchiveRejected as exc:
        raise refuse(str(exc), Path(path).name) from None
    with files:
        if not files.names:
            raise refuse("The dataset holds no files.")
        mismatch = format_mismatch(files, format)
        if mismatch:
            raise refuse(mismatch)
        ctx.progress(0.01, "Reading the annotations", force=True)
        report = ProblemReport()
        try:
            dataset = READERS[format].read(files, report)
        except ArchiveRejected as exc:  # an annotation file over its cap, or unreadable in the zip
            report.add("", str(exc))
            raise ImportRefused(report) from None
        if not dataset.images and not report:
            report.add("", f"The dataset has no images ({format}).")
        labels = _labels_check(project=project, dataset=dataset, report=report)
        items, stats = _check_images(
            files=files, dataset=dataset, labels=labels, clip=clip, report=report, ctx=ctx, skip_broken=skip_broken
        )
        if stats.get("broken"):
            hint = SKIP_BROKEN_HINT.format(count=stats["broken"])
            report.hints.append(hint + ("." if stats["broken"] == report.count else "; the others must be fixed either way."))
        if report:
            raise ImportRefused(report)
        if not items:
            raise refuse(f"Every image of the dataset is broken ({len(stats['skipped'])} skipped); nothing was imported.")
        try:
            summary = _write(project=project, files=files, dataset=dataset, labels=labels, items=items, user=user, ctx=ctx)
        except IntegrityError:
            raise refuse("The project changed while importing (another import at the same time?); run it again.")
        except ValidationError as exc:  # a label the project gained meanwhile
            raise refuse(" ".join(exc.messages))
    summary["clipped"] = stats.get("clipped", 0)
    summary["turned_upright"] = stats.get("turned_upright", 0)
    summary["image_files"] = stats["image_files"]
    summary["duplicate_files"] = stats.get("duplicate_files", 0)
    summary["duplicate_file_pairs"] = stats["duplicates"]
    summary["repaired"] = stats["repaired"][:MAX_REPORTED_FILES]
    summary["repaired_count"] = len(stats["repaired"])
    summary["skipped"] = stats["skipped"][:MAX_REPORTED_FILES]
    summary["skipped_count"] = len(stats["skipped"])
    return summary


# --- as a job -------------------------------------------------------------------------------
IMPORT_JOB_KIND = "export.import_dataset"


def dataset_import_job_create(
    *, project: Project, path: str | Path, format: str, user=None, clip: bool = False, name: str = "",
    delete_after: bool = False, skip_broken: bool = False,
) -> Job:
    """A queued (not yet sent) import job; ``delete_after`` removes ``path`` once the job ends."""
    return job_create(
        kind=IMPORT_JOB_KIND, created_by=user, project=project,
        params=_import_params(
            path=path, format=format, clip=clip, name=name, delete_after=delete_after, skip_broken=skip_broken
        ),
    )


def _import_params(
    *, path: str | Path, format: str, clip: bool, name: str, delete_after: bool, skip_broken: bool = False
) -> dict:
    return {
        "path": str(path), "format": format, "clip": bool(clip), "name": name, "delete_after": delete_after,
        "skip_broken": bool(skip_broken),
    }


def dataset_import_start(
    *, project: Project, upload, format: str, user, clip: bool = False, skip_broken: bool = False
) -> Job:
    """Check an uploaded dataset zip and queue its import (sent to a worker on commit).

    The archive is spooled to the media folder and checked first (:func:`import_archive_check`:
    a ``ValidationError`` for a bad one, and nothing is queued); the job removes it when it ends.
    """
    path, _ = zip_upload_spool(upload=upload, folder="imports", check=lambda p: import_archive_check(path=p, format=format))
    with transaction.atomic():
        return job_submit(
            kind=IMPORT_JOB_KIND, created_by=user, project=project,
            params=_import_params(
                path=path, format=format, clip=clip, name=upload.name or "", delete_after=True, skip_broken=skip_broken
            ),
        )


def dataset_import_job_run(*, job: Job, ctx) -> dict:
    """Job work: run the import the job describes; a refused dataset fails the job with its report.

    The report (first problems: file, object, what is wrong) is the job's error text and, as a
    list, its ``result["problems"]``.
    """
    params = job.params
    try:
        return dataset_import(
            project=job.project, path=params["path"], format=params["format"], user=job.created_by,
            clip=params.get("clip", False), ctx=ctx, skip_broken=params.get("skip_broken", False),
        )
    except ImportRefused as exc:
        result = {"problems": exc.report.as_list(), "problem_count": exc.report.count}
        if exc.report.hints:
            result["hints"] = exc.report.hints
        job_set_result(job=job, result=result)
        raise JobError(str(exc)) from None
    finally:
        if params.get("delete_after"):
            Path(params["path"]).unlink(missing_ok=True)
