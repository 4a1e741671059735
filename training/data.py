"""What a training task reads of a dataset version's frozen rows: the class of a classification
image, the boxes of a detection image, and the checks that a version can be trained on at all.

The rules (also in the README):

- **classify** — every image of the version carries exactly one tag (one image-level class);
  images with none or with tags of several labels break the rule, and at least two classes
  must occur. The classes are the version's labels that occur as a tag, in version label order.
- **detect** — an object (an instance group, :func:`annotate.geometry.objects_of`) is a target
  when it has a box, a polygon or a mask (its box is then the outline's tight box: a version of
  masks only trains a detector), or a keypoints set carrying an explicit ``bbox`` attribute
  (older imports). A keypoints set alone is not a detection target: the box of its visible points
  is not the object's extent. The train and the test split must each hold at least one target
  (a test split without one has nothing to measure mAP against); images without targets stay in
  as negatives. The classes are the version's labels that occur as targets, in version label order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from annotate.geometry import ObjectParts, objects_of
from datasets.models import DatasetVersion, VersionImage

EXAMPLES = 5  # file names quoted in a refusal


def image_tags(annotations: Sequence[Mapping]) -> list[str]:
    """The distinct labels of an image's tags, in order."""
    return list(dict.fromkeys(a["label"] for a in annotations if a["kind"] == "tag"))


def detection_target(obj: ObjectParts) -> tuple[float, float, float, float] | None:
    """The box an object trains a detector with, or None when it is no detection target."""
    if obj.box is None and obj.outline is None:
        attributes = (obj.keypoints or {}).get("attributes") or {}
        if not isinstance(attributes.get("bbox"), list):
            return None
    box = obj.bbox()
    if box is None or box[2] <= 0 or box[3] <= 0:
        return None
    return box


def detection_boxes(annotations: Sequence[Mapping]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``(label name, (x, y, w, h))`` for each detection target of an image, in object order."""
    found = []
    for obj in objects_of(annotations):
        box = detection_target(obj)
        if box is not None:
            found.append((obj.label, box))
    return found


def version_rows(version: DatasetVersion) -> Iterator[tuple[str, str, str, int, int, list]]:
    """``(file, file_name, split, width, height, annotations)`` of every frozen image, in order."""
    rows = VersionImage.objects.filter(version=version).order_by("index").values_list(
        "file", "file_name", "split", "width", "height", "annotations"
    )
    yield from rows.iterator(chunk_size=2000)


@dataclass
class DataCheck:
    """What a task found in a version: the classes it trains (in version order) or why it cannot."""

    labels: list[str] = field(default_factory=list)
    problem: str | None = None


def _examples(names: list[str], total: int) -> str:
    shown = ", ".join(names[:EXAMPLES])
    return f" (e.g. {shown}{', …' if total > EXAMPLES else ''})" if names else ""


def check_classification(version: DatasetVersion) -> DataCheck:
    used: set[str] = set()
    untagged: list[str] = []
    several: list[str] = []
    counts = Counter()
    total = 0
    for _file, name, _split, _w, _h, anns in version_rows(version):
        total += 1
        tags = image_tags(anns)
        if not tags:
            counts["none"] += 1
            untagged.append(name)
        elif len(tags) > 1:
            counts["several"] += 1
            several.append(name)
        else:
            used.add(tags[0])
    labels = [n for n in version.label_names if n in used]
    broken = counts["none"] + counts["several"]
    if broken:
        parts = []
        if counts["none"]:
            parts.append(f"{counts['none']} without a tag")
        if counts["several"]:
            parts.append(f"{counts['several']} with tags of several labels")
        return DataCheck(labels, (
            f"Classification needs exactly one tag per image; {broken} of the version's {total} images break "
            f"the rule ({', '.join(parts)}){_examples(untagged + several, broken)}. Tag them and build a new "
            "version, or train a detector."
        ))
    if len(labels) < 2:
        return DataCheck(labels, (
            f"Classification needs at least two classes; every image of this version is tagged "
            f"{labels[0]!r}." if labels else "Classification needs tagged images; this version has none."
        ))
    return DataCheck(labels)


def check_detection(version: DatasetVersion) -> DataCheck:
    used: set[str] = set()
    per_split: Counter = Counter()
    for _file, _name, split, _w, _h, anns in version_rows(version):
        for label, _box in detection_boxes(anns):
            used.add(label)
            per_split[split] += 1
    labels = [n for n in version.label_names if n in used]
    if not used:
        return DataCheck(labels, (
            "Detection needs objects with a box (a box, a polygon or a mask); this version has none. "
            "Annotate boxes and build a new version, or train a classifier."
        ))
    empty = [split for split in ("train", "test") if not per_split[split]]
    if empty:
        return DataCheck(labels, (
            f"Detection needs objects with a box in the train and the test split; the {' and the '.join(empty)} "
            f"split{'s' * (len(empty) > 1)} of this version hold{'s' * (len(empty) == 1)} none."
        ))
    return DataCheck(labels)


CHECKS = {"classify": check_classification, "detect": check_detection}
