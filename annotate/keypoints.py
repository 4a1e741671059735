"""Which keypoints trade places when an image is mirrored left-right: one rule for every app.

Used by the augmentation pipeline (a horizontal flip swaps the points of each pair) and by the
YOLO writer (``flip_idx`` in ``data.yaml``, which Ultralytics applies when it flips at training
time), so that a dataset is mirrored the same way wherever it is mirrored. Plain Python: the
augmentation worker processes import it without Django.

The rule (when no explicit pairs are given): a keypoint's mirror twin is its name with the side
swapped, where the side is

1. the word ``left`` / ``right`` anywhere in the name, in any case, the twin keeping the case
   style (``left_eye`` / ``right_eye``, ``leftear`` / ``rightear``, ``LeftHand`` / ``RightHand``,
   ``Left_Eye`` / ``Right_Eye``, ``LEFT_KNEE`` / ``RIGHT_KNEE``); else
2. a single letter ``l`` / ``r`` standing on its own between separators or the ends of the name
   (``l_eye`` / ``r_eye``, ``eye_l`` / ``eye_r``, ``hand.L`` / ``hand.R`` as in Blender,
   ``L-Shoulder`` / ``R-Shoulder``), or a capital ``L`` / ``R`` opening a CamelCase name
   (OpenPose's ``LEye`` / ``REye``).

The twin must be one of the label's keypoints: the exact name first, else a name equal to it
ignoring case (so ``left_eye`` pairs with ``Right_Eye``); every keypoint is in one pair at most,
and names without a twin stay in place.

Why this rule: the two rules this replaces agreed on the side *word* but differed on case —
augmentation looked the twin up with the exact case of the rest of the name (``Left_eye`` did
not pair with ``right_eye``), the YOLO writer ignoring case (it did). Ignoring case is right: a
name's case carries no side, and writing ``flip_idx`` and augmenting with different pairs would
train a pose model on mirrored points that disagree with the data. Neither knew the one-letter
sides of MPII, animal-pose and Blender rigs (``l_ankle``, ``hand.L``), which mirror just the
same, so the rule covers them too. A recipe's ``flip_pairs`` (per label name, pairs of keypoint
names) replaces the rule for that label, in augmentation and in the YOLO ``flip_idx`` of a
version built with that recipe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_SIDE_WORD = re.compile(r"left|right", re.IGNORECASE)
# A lone l / r between separators (or the ends of the name), or L / R opening a CamelCase word.
_SIDE_LETTER = re.compile(r"(?<![A-Za-z0-9])[lLrR](?![A-Za-z0-9])|^[LR](?=[A-Z][a-z])")


def _with_case_of(word: str, other: str) -> str:
    if word.isupper():
        return other.upper()
    if word[0].isupper():
        return other.capitalize()
    return other


def _side_and_twin(name: str) -> tuple[str, str] | None:
    """(``"left"`` or ``"right"``, the name with its side swapped), or None when it names no side."""
    match = _SIDE_WORD.search(name)
    if match is None:
        match = _SIDE_LETTER.search(name)
    if match is None:
        return None
    word = match.group(0)
    side = "left" if word[0].lower() == "l" else "right"
    other = "right" if side == "left" else "left"
    if len(word) == 1:
        other = other[0]
    return side, name[: match.start()] + _with_case_of(word, other) + name[match.end():]


def mirror_name(name: str) -> str | None:
    """The name of a keypoint's mirror twin by the module's rule (``left_eye`` -> ``right_eye``), or None."""
    found = _side_and_twin(name)
    return found[1] if found else None


def mirror_pairs(names: Sequence[str], pairs: Iterable[Sequence[str]] | None = None) -> list[tuple[int, int]]:
    """Index pairs of keypoints that trade places under a left-right mirror.

    ``pairs``, when given (a recipe's ``flip_pairs`` for this label: ``[[name, name], ...]``),
    are used instead of the rule, in their order; pairs naming a keypoint the label does not
    have are left out, and ``[]`` means nothing swaps. Derived pairs are ``(left, right)``,
    ordered by the left keypoint's index.
    """
    index = {name: i for i, name in enumerate(names)}
    if pairs is not None:
        return [(index[a], index[b]) for a, b in pairs if a in index and b in index]
    by_folded: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by_folded.setdefault(name.casefold(), []).append(i)
    wanted = []  # (left index, twin name) for every left-side keypoint
    for i, name in enumerate(names):
        found = _side_and_twin(name)
        if found and found[0] == "left":
            wanted.append((i, found[1]))
    used: set[int] = set()
    chosen: dict[int, int] = {}
    for i, twin in wanted:  # exact names first, so a case-insensitive match never steals one
        j = index.get(twin)
        if j is not None and j != i and j not in used:
            chosen[i] = j
            used.update((i, j))
    for i, twin in wanted:
        if i in chosen or i in used:
            continue
        j = next((k for k in by_folded.get(twin.casefold(), []) if k != i and k not in used), None)
        if j is not None:
            chosen[i] = j
            used.update((i, j))
    return sorted(chosen.items())


def flip_index(names: Sequence[str], pairs: Iterable[Sequence[str]] | None = None) -> list[int]:
    """For each keypoint, the index of the keypoint whose point it takes after a mirror (else itself).

    The YOLO ``flip_idx``: ``mirrored[i] = points[flip_index[i]]``, the same permutation as
    swapping the points of each of :func:`mirror_pairs` ``(names, pairs)`` in turn.
    """
    order = list(range(len(names)))
    for a, b in mirror_pairs(names, pairs):
        order[a], order[b] = order[b], order[a]
    return order


# COCO's per-keypoint OKS sigmas (cocoapi, COCOeval.Params.setKpParams), by the 17 COCO names.
COCO_SIGMAS = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035, "right_ear": 0.035,
    "left_shoulder": 0.079, "right_shoulder": 0.079, "left_elbow": 0.072, "right_elbow": 0.072,
    "left_wrist": 0.062, "right_wrist": 0.062, "left_hip": 0.107, "right_hip": 0.107,
    "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089, "right_ankle": 0.089,
}
DEFAULT_SIGMA = 0.05


def oks_sigmas(keypoint_names: Sequence[str], stored: Sequence[float] | None = None) -> list[float]:
    """The OKS sigma of each keypoint, for keypoint evaluation (COCO OKS AP).

    ``stored`` (a label class's ``keypoint_sigmas``) wins when it has one value per keypoint;
    otherwise each keypoint takes COCO's sigma when its name is one of COCO's 17 (ignoring case)
    and :data:`DEFAULT_SIGMA` else. A sigma is the spread of human annotators' clicks for that
    point relative to the object's size: small for an eye, large for a hip.
    """
    names = list(keypoint_names)
    if stored and len(stored) == len(names):
        return [float(v) for v in stored]
    return [COCO_SIGMAS.get(name.lower(), DEFAULT_SIGMA) for name in names]
