"""A project's dataset health report: balance, gaps, broken annotations and split leaks.

Split leaks are near-duplicate images (perceptual hashes at most ``SPLIT_LEAK_MAX_DISTANCE`` bits
apart) that sit in different splits: the model sees (almost) the test image during training and
the test score flatters it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from django.conf import settings

from .geometry import GeometryError, validate_geometry
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
    rows = Annotation.objects.filter(image__project=project).values_list("id", "image_id", "label_id", "kind", "geometry")
    for ann_id, image_id, label_id, kind, geometry in rows.iterator(chunk_size=2000):
        annotated.add(image_id)
        label = labels[label_id]
        split = split_of[image_id]
        objects[split][label.name] += 1
        images_with[split][label.name].add(image_id)
        width, height = size_of[image_id]
        try:
            validate_geometry(kind, geometry, width=width, height=height, keypoint_names=label.keypoint_names)
        except GeometryError as exc:
            invalid_count += 1
            if len(invalid) < MAX_LISTED:
                invalid.append({"annotation": ann_id, "image": image_id, "problem": str(exc)})

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
