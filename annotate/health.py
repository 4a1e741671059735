"""A project's dataset health report: balance, gaps, broken annotations and split leaks.

Objects are counted as the writers write them (an object group once). "Invalid annotations"
lists geometry that no longer validates and broken object groups (mixed labels, two boxes, a
grouped tag: rows written before the rules, or by hand in the database).

Split leaks are near-duplicate images (perceptual hashes at most ``SPLIT_LEAK_MAX_DISTANCE`` bits
apart) that sit in different splits: the model sees (almost) the test image during training and
the test score flatters it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from django.conf import settings

from .geometry import GeometryError, objects_of, validate_geometry, validate_groups
from .imaging import hamming_distances
from .models import Annotation, Image, Project, Split

MAX_LISTED = 50


def split_leaks(images: list[tuple[int, str, str]], max_distance: int) -> list[dict]:
    """Pairs of (id, phash, split) images within ``max_distance`` bits in different assigned splits."""
    assigned = [i for i in images if i[2] != Split.UNASSIGNED]
    if len(assigned) < 2:
        return []
    distances = hamming_distances([phash for _, phash, _ in assigned])
    splits = np.array([split for _, _, split in assigned])
    close = np.triu(distances <= max_distance, k=1) & (splits[:, None] != splits[None, :])
    leaks = []
    for a, b in zip(*np.nonzero(close)):
        leaks.append(
            {
                "images": [assigned[a][0], assigned[b][0]],
                "splits": [assigned[a][2], assigned[b][2]],
                "distance": int(distances[a, b]),
            }
        )
    return leaks


def project_health(*, project: Project) -> dict:
    labels = {label.pk: label for label in project.labels.all()}
    images = list(Image.objects.filter(project=project).values_list("id", "phash", "split", "width", "height"))
    size_of = {i[0]: (i[3], i[4]) for i in images}
    split_of = {i[0]: i[2] for i in images}

    objects: dict[str, dict[str, int]] = {s: defaultdict(int) for s in Split.values}
    images_with: dict[str, dict[str, set]] = {s: defaultdict(set) for s in Split.values}
    annotated: set[int] = set()
    invalid: list[dict] = []
    invalid_count = 0

    def problem(ann_id: int, image_id: int, text: str) -> None:
        nonlocal invalid_count
        invalid_count += 1
        if len(invalid) < MAX_LISTED:
            invalid.append({"annotation": ann_id, "image": image_id, "problem": text})

    def image_done(image_id: int, parts: list[dict]) -> None:
        """Count the image's objects (an object group once) and flag its broken groups."""
        split = split_of[image_id]
        for i, text in validate_groups(parts).items():
            problem(parts[i]["id"], image_id, text)
        for name in [o.label for o in objects_of(parts)] + [p["label"] for p in parts if p["kind"] == "tag"]:
            objects[split][name] += 1
            images_with[split][name].add(image_id)

    rows = (
        Annotation.objects.filter(image__project=project).order_by("image_id", "id")
        .values_list("id", "image_id", "label_id", "kind", "geometry", "group")
    )
    current: int | None = None
    parts: list[dict] = []
    for ann_id, image_id, label_id, kind, geometry, group in rows.iterator(chunk_size=2000):
        if image_id != current:
            if current is not None:
                image_done(current, parts)
            current, parts = image_id, []
        annotated.add(image_id)
        label = labels[label_id]
        parts.append({"id": ann_id, "label": label.name, "kind": kind, "geometry": geometry, "group": group})
        width, height = size_of[image_id]
        try:
            validate_geometry(kind, geometry, width=width, height=height, keypoint_names=label.keypoint_names)
        except GeometryError as exc:
            problem(ann_id, image_id, str(exc))
    if current is not None:
        image_done(current, parts)

    per_split = {}
    for split in Split.values:
        count = sum(1 for i in images if i[2] == split)
        per_split[split] = {
            "images": count,
            "objects": dict(objects[split]),
            "images_per_class": {name: len(ids) for name, ids in images_with[split].items()},
        }
    unannotated = [i[0] for i in images if i[0] not in annotated]
    leaks = split_leaks([(i[0], i[1], i[2]) for i in images], settings.SPLIT_LEAK_MAX_DISTANCE)
    return {
        "images": len(images),
        "splits": per_split,
        "classes": [label.name for label in labels.values()],
        "unannotated": {"count": len(unannotated), "images": unannotated[:MAX_LISTED]},
        "invalid_annotations": {"count": invalid_count, "items": invalid},
        "split_leaks": {"max_distance": settings.SPLIT_LEAK_MAX_DISTANCE, "count": len(leaks), "pairs": leaks[:MAX_LISTED]},
    }
