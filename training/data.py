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
- **keypoints** — one keypoint label class (``options.keypoint_label``; by default the version's
  only keypoint class that has instances). An instance is an object of that class that has a
  keypoints set with at least one labeled point, or a box / outline (its points then all
  unlabeled: it still teaches where instances are); its box is the object's box
  (:meth:`~annotate.geometry.ObjectParts.bbox`: the box part, else the outline's tight box, else
  that of the labeled points). The train and the test split must each hold an instance with
  labeled points. OKS sigmas come from the project's label class at the time the run starts
  (:func:`annotate.keypoints.oks_sigmas`), since they are evaluation settings, not data.
- **segment** — every mask and polygon is painted into a class map (in object order, a later one
  over an earlier one); the classes are ``background`` (index 0: every unpainted pixel) and the
  version's labels that occur as masks or polygons, in version label order (a label itself named
  ``background`` paints index 0). The train and the test split must each hold a mask or polygon.
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


def check_classification(version: DatasetVersion, options: Mapping | None = None) -> DataCheck:
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


def check_detection(version: DatasetVersion, options: Mapping | None = None) -> DataCheck:
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


def keypoint_labels(version: DatasetVersion) -> list[dict]:
    """The version's frozen label dicts of keypoint classes (those with keypoint names)."""
    return [label for label in version.labels if label.get("keypoint_names")]


def keypoint_instances(annotations: Sequence[Mapping], label: str) -> list[tuple[tuple[float, float, float, float], list]]:
    """``(box, points)`` of each instance of keypoint class ``label`` in an image, in object order
    (``points`` the stored ``[[x, y, v], ...]``, or ``[]`` for an instance without keypoints)."""
    found = []
    for obj in objects_of(annotations):
        if obj.label != label:
            continue
        points = list((obj.keypoints or {}).get("geometry", {}).get("points") or [])
        if obj.box is None and obj.outline is None and not any(p[2] > 0 for p in points):
            continue  # a keypoints set with nothing labeled: nothing to learn, no box
        box = obj.bbox()
        if box is not None and (box[2] <= 0 or box[3] <= 0):
            # labeled points on a line: the square on their longer side, centred on them
            side = max(box[2], box[3])
            box = (box[0] + (box[2] - side) / 2, box[1] + (box[3] - side) / 2, side, side) if side > 0 else None
        if box is None:
            continue
        found.append((box, points))
    return found


def keypoint_label_choice(version: DatasetVersion, options: Mapping) -> tuple[dict | None, str | None]:
    """The keypoint class a pose run trains (``options.keypoint_label`` or the only one used),
    or why there is none."""
    candidates = keypoint_labels(version)
    wanted = options.get("keypoint_label")
    if wanted:
        chosen = next((label for label in candidates if label["name"] == wanted), None)
        if chosen is None:
            names = ", ".join(repr(label["name"]) for label in candidates) or "none"
            return None, f"{wanted!r} is not a keypoint class of version {version.number} (its keypoint classes: {names})."
        return chosen, None
    if not candidates:
        return None, (
            f"Keypoint training needs a label class with keypoint names; version {version.number} has none. "
            "Define the keypoints on the label, annotate them and build a new version."
        )
    used = set()
    for _file, _name, _split, _w, _h, anns in version_rows(version):
        used.update(a["label"] for a in anns if a["kind"] == "keypoints")
    in_use = [label for label in candidates if label["name"] in used]
    if len(in_use) > 1:
        names = ", ".join(repr(label["name"]) for label in in_use)
        return None, f"Version {version.number} has several keypoint classes ({names}): choose one with options.keypoint_label."
    return (in_use or candidates)[0], None


def check_keypoints(version: DatasetVersion, options: Mapping | None = None) -> DataCheck:
    label, problem = keypoint_label_choice(version, options or {})
    if label is None:
        return DataCheck([], problem)
    name = label["name"]
    per_split: Counter = Counter()
    for _file, _name, split, _w, _h, anns in version_rows(version):
        for _box, points in keypoint_instances(anns, name):
            if any(p[2] > 0 for p in points):
                per_split[split] += 1
    if not sum(per_split.values()):
        return DataCheck([name], (
            f"Keypoint training on {name!r} needs instances with labeled keypoints; version {version.number} "
            f"has no instance of {name!r} with a labeled point."
        ))
    empty = [split for split in ("train", "test") if not per_split[split]]
    if empty:
        return DataCheck([name], (
            f"Keypoint training needs instances of {name!r} with labeled keypoints in the train and the test split; "
            f"the {' and the '.join(empty)} split{'s' * (len(empty) > 1)} of version {version.number} "
            f"hold{'s' * (len(empty) == 1)} none."
        ))
    return DataCheck([name])


BACKGROUND = "background"
OUTLINE_KINDS = ("mask", "polygon")


def segment_classes(version: DatasetVersion) -> list[str]:
    """``["background", *labels with masks or polygons in version order]``."""
    used = set()
    for _file, _name, _split, _w, _h, anns in version_rows(version):
        used.update(a["label"] for a in anns if a["kind"] in OUTLINE_KINDS)
    return [BACKGROUND, *(n for n in version.label_names if n in used and n != BACKGROUND)]


def segments_of(annotations: Sequence[Mapping], index: Mapping[str, int]) -> list[list]:
    """``[class index, kind, geometry]`` of an image's masks and polygons, in object order."""
    return [
        [index.get(obj.outline["label"], 0), obj.outline["kind"], obj.outline["geometry"]]
        for obj in objects_of(annotations)
        if obj.outline is not None
    ]


def check_segmentation(version: DatasetVersion, options: Mapping | None = None) -> DataCheck:
    per_split: Counter = Counter()
    for _file, _name, split, _w, _h, anns in version_rows(version):
        per_split[split] += sum(1 for a in anns if a["kind"] in OUTLINE_KINDS)
    labels = segment_classes(version) if sum(per_split.values()) else []
    if not sum(per_split.values()):
        return DataCheck(labels, (
            f"Segmentation needs masks or polygons; version {version.number} has none (boxes and keypoints "
            "do not say which pixels are the object). Draw masks or polygons and build a new version."
        ))
    empty = [split for split in ("train", "test") if not per_split[split]]
    if empty:
        return DataCheck(labels, (
            f"Segmentation needs masks or polygons in the train and the test split; the {' and the '.join(empty)} "
            f"split{'s' * (len(empty) > 1)} of version {version.number} hold{'s' * (len(empty) == 1)} none."
        ))
    return DataCheck(labels)


# task -> check(version, options): the classes a run of that task trains, or why it cannot.
CHECKS = {
    "classify": check_classification,
    "detect": check_detection,
    "keypoints": check_keypoints,
    "segment": check_segmentation,
}
