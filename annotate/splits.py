"""Assigning images to train / validation / test, deterministically and without leaks by churn.

Each image's place is driven by a key computed from its content hash and the seed, never by its
position in a list, so the outcome does not depend on upload order. Two modes:

- **not stratified**: an image's split is a pure function of its key and the ratios, so adding
  images never moves an existing one, and re-running with the same parameters changes nothing.
- **stratified**: per stratum (the image's rarest label in the project; images without labels form
  one stratum), quotas are filled exactly (largest remainder) in key order.

Images with ``split_locked`` (set by hand) are never touched. With ``reset=False`` (the default),
images that already have a split keep it and count towards their stratum's quota, and only
unassigned ones are placed — so splitting again after adding images never reshuffles anything.
``reset=True`` re-places every unlocked image from scratch.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import SPLITS, Annotation, Image, Project, Split

RATIO_TOLERANCE = 1e-6  # how far from 1 the three ratios may add up (floating-point rounding)


def split_key(sha256: str, seed: int) -> float:
    """A number in [0, 1) fixed by the image content and the seed."""
    digest = hashlib.sha256(f"{seed}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_ratios_check(train, val, test, *, field: str = "detail") -> tuple[float, float, float]:
    """The train / val / test ratios, checked: finite, non-negative numbers adding up to 1.

    The one check of split ratios, for the project's split and a version's build parameters;
    raises ``ValidationError`` with the sentence under ``field``.
    """
    values = (train, val, test)
    if any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in values
    ):
        raise ValidationError({field: "Split ratios must be non-negative numbers."})
    total = sum(values)
    if total <= 0:
        raise ValidationError({field: "At least one split ratio must be positive."})
    if abs(total - 1.0) > RATIO_TOLERANCE:
        raise ValidationError({field: f"Split ratios must add up to 1 (they add up to {total:g})."})
    return values


def split_for_key(key: float, ratios: tuple[float, float, float]) -> str:
    if key < ratios[0]:
        return Split.TRAIN
    if key < ratios[0] + ratios[1]:
        return Split.VAL
    return Split.TEST


def _quotas(n: int, ratios: tuple[float, float, float]) -> list[int]:
    """Largest-remainder apportionment of n items to the three splits."""
    raw = [n * r for r in ratios]
    counts = [math.floor(v) for v in raw]
    order = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _strata(project: Project) -> dict[int, str]:
    """Each image's stratum: its rarest label (by number of images carrying it) in the project."""
    pairs = set(Annotation.objects.filter(image__project=project).values_list("image_id", "label_id"))
    frequency = Counter(label for _, label in pairs)
    labels_of: dict[int, list[int]] = defaultdict(list)
    for image_id, label in pairs:
        labels_of[image_id].append(label)
    return {
        image_id: f"label:{min(labels, key=lambda lbl: (frequency[lbl], lbl))}" for image_id, labels in labels_of.items()
    }


@transaction.atomic
def project_split(
    *,
    project: Project,
    train: float = 0.7,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    stratify: bool = False,
    reset: bool = False,
    dry_run: bool = False,
) -> dict:
    """Assign splits; returns how many images were placed and the resulting counts per split.

    With ``dry_run`` nothing is saved: the answer says what the split would do (the split dialog
    shows it before the user confirms).
    """
    ratios = split_ratios_check(train, val, test)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValidationError({"seed": "The seed must be an integer."})
    images = list(Image.objects.filter(project=project).values_list("id", "sha256", "split", "split_locked"))
    strata = _strata(project) if stratify else {}
    changes: dict[str, list[int]] = defaultdict(list)
    groups: dict[str, list[tuple[float, int, str, bool]]] = defaultdict(list)
    for image_id, sha, split, locked in images:
        groups[strata.get(image_id, "unlabelled")].append((split_key(sha, seed), image_id, split, locked))

    for members in groups.values():
        fixed = [m for m in members if m[3] or (not reset and m[2] != Split.UNASSIGNED)]
        free = sorted(m for m in members if m not in fixed)
        if not stratify:
            for key, image_id, split, _ in free:
                new = split_for_key(key, ratios)
                if new != split:
                    changes[new].append(image_id)
            continue
        quotas = _quotas(len(members), ratios)
        have = Counter(m[2] for m in fixed)
        deficit = [max(quotas[i] - have.get(s, 0), 0) for i, s in enumerate(SPLITS)]
        # Free images beyond the total deficit (possible when fixed images over-fill a split)
        # are shared out by the same ratios.
        extra = _quotas(max(len(free) - sum(deficit), 0), ratios)
        wanted = [d + e for d, e in zip(deficit, extra)]
        position = 0
        for split_name, count in zip(SPLITS, wanted):
            for _key, image_id, split, _ in free[position: position + count]:
                if split != split_name:
                    changes[split_name].append(image_id)
            position += count

    if dry_run:
        final = {image_id: split for image_id, _, split, _ in images}
        for split_name, ids in changes.items():
            final.update(dict.fromkeys(ids, split_name))
        counts = Counter(final.values())
    else:
        for split_name, ids in changes.items():
            for start in range(0, len(ids), 900):
                Image.objects.filter(pk__in=ids[start: start + 900]).update(split=split_name)
        counts = Counter(Image.objects.filter(project=project).values_list("split", flat=True))
    return {
        "changed": sum(len(v) for v in changes.values()),
        "counts": {s: counts.get(s, 0) for s in Split.values},
        "params": {"train": train, "val": val, "test": test, "seed": seed, "stratify": stratify, "reset": reset,
                   "dry_run": dry_run},
    }
