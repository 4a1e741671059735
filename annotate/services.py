"""Writes to projects, members, labels, images and annotations, each in one transaction.

Services take keyword-only arguments and raise Django's ``ValidationError`` for the caller's
mistakes (the API turns it into a 400), :class:`StaleRevision` for a lost optimistic-concurrency
race (412).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from . import storage
from .geometry import GeometryError, group_number, groups_renumber, validate_geometry, validate_groups
from .imaging import thumbnail_bytes
from .models import Annotation, Image, LabelClass, Membership, Project, Role, Split


# --- projects and members -------------------------------------------------------------------
@transaction.atomic
def project_create(*, name: str, created_by, description: str = "") -> Project:
    """A new project; its creator is its first owner."""
    project = Project.objects.create(name=name, description=description, created_by=created_by)
    Membership.objects.create(project=project, user=created_by, role=Role.OWNER)
    return project


def project_update(*, project: Project, **fields) -> Project:
    for key in ("name", "description"):
        if key in fields:
            setattr(project, key, fields[key])
    project.save()
    return project


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project and its rows; stored files no other project uses are removed too.

    Which files are still used is asked after commit, under the files' lock
    (:func:`annotate.storage.delete_unreferenced`): another project may be uploading the same bytes.
    """
    files = list(project.images.values_list("file", flat=True).distinct())
    project.delete()
    transaction.on_commit(lambda: storage.delete_unreferenced(files, in_use=_image_files_in_use))


def _image_files_in_use(relatives: list[str]) -> list[str]:
    """Those of the stored image files ``relatives`` that an image (of any project) uses."""
    shas = {PurePosixPath(r).stem for r in relatives}  # a file is named by its content's sha256
    return list(Image.objects.filter(sha256__in=shas, file__in=relatives).values_list("file", flat=True).distinct())


def membership_add(*, project: Project, username: str, role: str) -> Membership:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user is called {username!r}."})
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if not created and membership.role != role:
        membership_set_role(membership=membership, role=role)
    return membership


def _ensure_an_owner_remains(membership: Membership) -> None:
    others = Membership.objects.filter(project=membership.project, role=Role.OWNER).exclude(pk=membership.pk)
    if membership.role == Role.OWNER and not others.exists():
        raise ValidationError({"detail": "A project needs at least one owner; add another owner first."})


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {', '.join(Role.values)}."})
    if role != Role.OWNER:
        _ensure_an_owner_remains(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    _ensure_an_owner_remains(membership)
    membership.delete()


# --- labels ---------------------------------------------------------------------------------
def check_keypoints(keypoint_names: list, skeleton: list) -> None:
    if not isinstance(keypoint_names, list) or not all(isinstance(n, str) and n for n in keypoint_names):
        raise ValidationError({"keypoint_names": "Keypoint names must be a list of non-empty strings."})
    if len(set(keypoint_names)) != len(keypoint_names):
        raise ValidationError({"keypoint_names": "Keypoint names must be unique."})
    n = len(keypoint_names)
    if not isinstance(skeleton, list):
        raise ValidationError({"skeleton": "The skeleton must be a list of [i, j] pairs."})
    for edge in skeleton:
        if (
            not isinstance(edge, list)
            or len(edge) != 2
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in edge)
            or edge[0] == edge[1]
        ):
            raise ValidationError({"skeleton": f"Skeleton edge {edge!r} must join two different keypoint indexes 0..{n - 1}."})


def check_sigmas(keypoint_names: list, sigmas: Any) -> None:
    """Empty (the defaults of :func:`annotate.keypoints.oks_sigmas`) or one number in (0, 1] per keypoint."""
    if not isinstance(sigmas, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1 for v in sigmas
    ):
        raise ValidationError({"keypoint_sigmas": "Keypoint sigmas are a list of numbers in (0, 1], one per keypoint."})
    if sigmas and len(sigmas) != len(keypoint_names):
        raise ValidationError({"keypoint_sigmas": (
            f"There are {len(sigmas)} sigmas for {len(keypoint_names)} keypoints; give one per keypoint, "
            "or none for the defaults."
        )})


def label_create(
    *, project: Project, name: str, color: str = "#e6194b", keypoint_names=None, skeleton=None, keypoint_sigmas=None
) -> LabelClass:
    keypoint_names, skeleton = list(keypoint_names or []), list(skeleton or [])
    sigmas = list(keypoint_sigmas or [])
    check_keypoints(keypoint_names, skeleton)
    check_sigmas(keypoint_names, sigmas)
    try:
        with transaction.atomic():
            return LabelClass.objects.create(
                project=project, name=name, color=color, keypoint_names=keypoint_names, skeleton=skeleton,
                keypoint_sigmas=sigmas,
            )
    except IntegrityError:
        raise ValidationError({"name": f"This project already has a label called {name!r}."}) from None


def label_update(*, label: LabelClass, **fields) -> LabelClass:
    """Rename, recolour, or change the skeleton. The number of keypoints is fixed once annotated."""
    names = fields.get("keypoint_names", label.keypoint_names)
    skeleton = fields.get("skeleton", label.skeleton)
    check_keypoints(names, skeleton)
    check_sigmas(names, fields.get("keypoint_sigmas", label.keypoint_sigmas))
    if len(names) != len(label.keypoint_names) and label.annotations.filter(kind=Annotation.Kind.KEYPOINTS).exists():
        raise ValidationError(
            {"keypoint_names": "Keypoints are already annotated with this label; the number of keypoints cannot change."}
        )
    for key in ("name", "color", "keypoint_names", "skeleton", "keypoint_sigmas"):
        if key in fields:
            setattr(label, key, fields[key])
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise ValidationError({"name": f"This project already has a label called {label.name!r}."}) from None
    return label


def label_delete(*, label: LabelClass) -> None:
    label.delete()


# --- images ---------------------------------------------------------------------------------
IMAGE_EDITABLE = ("split", "split_locked", "status")


def image_update(*, image: Image, **fields) -> Image:
    """Change an image's split (which locks it: set by hand) or status."""
    if "split" in fields:
        if fields["split"] not in Split.values:
            raise ValidationError({"split": f"Unknown split {fields['split']!r}."})
        image.split = fields["split"]
        image.split_locked = fields.get("split_locked", True)
    elif "split_locked" in fields:
        image.split_locked = bool(fields["split_locked"])
    if "status" in fields:
        if fields["status"] not in Image.Status.values:
            raise ValidationError({"status": f"Unknown status {fields['status']!r}."})
        image.status = fields["status"]
    image.save(update_fields=["split", "split_locked", "status", "updated_at"])
    return image


def image_review(*, image: Image, accept: bool, comment: str = "") -> Image:
    """Accept (status reviewed) or reject (back to in progress, with the reviewer's comment)."""
    if not accept and not comment.strip():
        raise ValidationError({"comment": "Say what needs fixing when rejecting an image."})
    image.status = Image.Status.REVIEWED if accept else Image.Status.IN_PROGRESS
    image.review_comment = "" if accept else comment.strip()
    image.meta = {**image.meta, "rejected": not accept}
    image.save(update_fields=["status", "review_comment", "meta", "updated_at"])
    return image


@transaction.atomic
def image_delete(*, image: Image) -> None:
    """Delete the image; its stored file goes too once no image uses it (asked as in :func:`project_delete`)."""
    relative = image.file
    image.delete()
    transaction.on_commit(lambda: storage.delete_unreferenced([relative], in_use=_image_files_in_use))


def image_thumbnail(*, image: Image, size: int) -> Path:
    """The path of the image's JPEG thumbnail of at most ``size`` pixels, made on first request.

    Kept by content hash and size, so every image with the same bytes shares it; written
    atomically, so two requests making it at once both serve a whole file.
    """
    relative = storage.thumbnail_relative_path(image.sha256, size)
    path = storage.media_path(relative)
    if not path.exists():
        storage.write_atomic(relative, thumbnail_bytes(storage.media_path(image.file).read_bytes(), size))
    return path


# --- annotations ----------------------------------------------------------------------------
class StaleRevision(Exception):
    """Someone saved the image's annotations after the revision the caller started from."""

    def __init__(self, current: int):
        super().__init__(f"The annotations changed since the revision you edited; the current revision is {current}.")
        self.current = current


@dataclass(frozen=True)
class AnnotationInput:
    label_id: int
    kind: str
    geometry: dict
    attributes: dict
    source: str = Annotation.Source.MANUAL
    score: float | None = None
    group: int | None = None


def annotations_validate(*, image: Image, items: Iterable[dict]) -> list[AnnotationInput]:
    """Check a whole list of annotations for an image; errors name the item and the field.

    Labels must belong to the image's project; geometry and instance groups go through
    :mod:`annotate.geometry`. Groups come back renumbered in canonical form
    (:func:`annotate.geometry.groups_renumber`): what the caller numbered 7 and 9 is stored as 1 and 2.
    """
    items = list(items)
    labels = {label.pk: label for label in LabelClass.objects.filter(project_id=image.project_id)}
    cleaned: list[AnnotationInput] = []
    errors: dict[str, str] = {}
    for i, item in enumerate(items):
        label_id = item.get("label")
        label = labels.get(label_id) if isinstance(label_id, int) and not isinstance(label_id, bool) else None
        if label is None:
            errors[f"annotations[{i}].label"] = f"Label {item.get('label')!r} is not a label of this project."
            continue
        kind = item.get("kind")
        if not isinstance(kind, str) or kind not in Annotation.Kind.values:
            errors[f"annotations[{i}].kind"] = f"Unknown kind {kind!r}; use one of {', '.join(Annotation.Kind.values)}."
            continue
        try:
            geometry = validate_geometry(
                kind, item.get("geometry", {}), width=image.width, height=image.height,
                keypoint_names=label.keypoint_names,
            )
        except GeometryError as exc:
            errors[f"annotations[{i}].geometry"] = str(exc)
            continue
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            errors[f"annotations[{i}].attributes"] = "Attributes must be a JSON object."
            continue
        source = item.get("source") or Annotation.Source.MANUAL
        if source not in Annotation.Source.values:
            errors[f"annotations[{i}].source"] = f"Unknown source {source!r}."
            continue
        score = item.get("score")
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= float(score) <= 1.0
        ):
            errors[f"annotations[{i}].score"] = "A score must be a number between 0 and 1."
            continue
        try:
            group = group_number(item.get("group"))
        except GeometryError as exc:
            errors[f"annotations[{i}].group"] = str(exc)
            continue
        cleaned.append(AnnotationInput(label.pk, kind, geometry, attributes, source, score, group))
    if errors:
        raise ValidationError(errors)
    problems = validate_groups([{"label": a.label_id, "kind": a.kind, "group": a.group} for a in cleaned])
    if problems:
        raise ValidationError({f"annotations[{i}].group": problem for i, problem in problems.items()})
    numbers = groups_renumber([a.group for a in cleaned])
    return [a if a.group == n else replace(a, group=n) for a, n in zip(cleaned, numbers)]


def _insert_annotations(*, image_id: int, items: list[AnnotationInput], user_id: int | None) -> list[dict]:
    """Insert the rows with multi-row ``INSERT ... RETURNING id`` statements; return them as dicts.

    This is the annotation save's hot path (the labeling page autosaves whole images of up to
    thousands of shapes): building model instances and letting the ORM compile a bulk insert
    cost more than the database work itself, so the rows go in as plain parameters. The
    returned dicts have the API's shape, so the caller needs no second read.
    """
    table = connection.ops.quote_name(Annotation._meta.db_table)
    columns = "image_id, label_id, kind, geometry, attributes, source, score, \"group\", created_by_id, created_at, updated_at"
    now = timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    result: list[dict] = []
    with connection.cursor() as cursor:
        for start in range(0, len(items), INSERT_BATCH):
            batch = items[start: start + INSERT_BATCH]
            params: list = []
            for item in batch:
                params += [
                    image_id, item.label_id, item.kind, json.dumps(item.geometry), json.dumps(item.attributes),
                    item.source, item.score, item.group, user_id, stamp, stamp,
                ]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING id", params)
            ids = [row[0] for row in cursor.fetchall()]
            for pk, item in zip(ids, batch, strict=True):
                result.append(
                    {"id": pk, "label": item.label_id, "kind": item.kind, "geometry": item.geometry,
                     "attributes": item.attributes, "source": item.source, "score": item.score,
                     "group": item.group, "created_at": now, "updated_at": now}
                )
    return result


INSERT_BATCH = 1000  # rows per INSERT: 11 parameters each stays far below SQLite's variable limit


def annotations_replace(*, image: Image, expected_revision: int, items: list[AnnotationInput], user=None) -> list[dict]:
    """Replace every annotation of the image at once; returns the saved annotations.

    Optimistic concurrency: the revision is compared and bumped in a single UPDATE, so of two
    concurrent saves from the same revision exactly one matches a row and wins; the other raises
    :class:`StaleRevision` and changes nothing (its transaction is rolled back). A new image
    moves to "in progress" on its first save. ``image.revision`` is set to the new revision.
    """
    with transaction.atomic():
        won = Image.objects.filter(pk=image.pk, revision=expected_revision).update(
            revision=F("revision") + 1,
            status=Case(When(status=Image.Status.NEW, then=Value(Image.Status.IN_PROGRESS)), default=F("status")),
            updated_at=timezone.now(),
        )
        if not won:
            current = Image.objects.filter(pk=image.pk).values_list("revision", flat=True).first()
            raise StaleRevision(current if current is not None else -1)
        Annotation.objects.filter(image_id=image.pk).delete()
        saved = _insert_annotations(image_id=image.pk, items=items, user_id=getattr(user, "pk", None))
    image.revision = expected_revision + 1
    return saved


@dataclass(frozen=True)
class AnnotationRow:
    """A new annotation of :func:`annotations_add_bulk`, its geometry already validated for its image."""

    image_id: int
    label_id: int
    kind: str
    geometry: dict
    attributes: dict = field(default_factory=dict)
    source: str = Annotation.Source.MANUAL
    score: float | None = None
    group: int | None = None  # canonical within the image (see annotate.geometry.groups_renumber)


BUMP_BATCH = 900  # image ids per UPDATE: bounded IN lists (SQLite caps query parameters)


def annotations_add_bulk(*, rows: Iterable[AnnotationRow], user=None, bump_revision_of: Iterable[int] = ()) -> int:
    """Add annotations to images in bulk, next to those they have; returns how many were added.

    For imports of tens of thousands of rows: no per-row saves and no checks per row, so the
    caller validates each geometry against its image (:func:`annotate.geometry.validate_geometry`)
    and uses labels of the image's project, as :func:`annotations_validate` would. The revision of
    each image in ``bump_revision_of`` (images that existed before, now with new annotations) is
    bumped once, so an editor still holding the old revision gets a 412 instead of overwriting
    them; images created along with their annotations need none. One transaction.
    """
    created_by_id = getattr(user, "pk", None)
    objects = [
        Annotation(
            image_id=row.image_id, label_id=row.label_id, kind=row.kind, geometry=row.geometry,
            attributes=row.attributes, source=row.source, score=row.score, group=row.group,
            created_by_id=created_by_id,
        )
        for row in rows
    ]
    bump = list(dict.fromkeys(bump_revision_of))
    with transaction.atomic():
        Annotation.objects.bulk_create(objects, batch_size=INSERT_BATCH)
        for start in range(0, len(bump), BUMP_BATCH):
            Image.objects.filter(pk__in=bump[start:start + BUMP_BATCH]).update(revision=F("revision") + 1)
    return len(objects)
