"""YOLO reader (Ultralytics layout): detection boxes, segmentation polygons and pose keypoints.

Class names come from ``data.yaml`` (``names`` as a list or an ``{index: name}`` mapping; also
``kpt_shape`` for pose, and optional ``kpt_names``, for all classes or ``{class: [names]}``) or,
for darknet sets, ``classes.txt`` or ``obj.names``. An image ``.../images/<split>/x.jpg`` has its
labels in ``.../labels/<split>/x.txt`` (the last ``images`` folder swapped for ``labels``); the split is the folder name (``train``,
``val``/``valid``, ``test``, also ``train2017`` or ``obj_train_data``) wherever it sits
(``images/train`` or ``train/images``); darknet sets keep ``x.txt`` next to ``x.jpg``. An image
without a label file has no objects. Each line is ``class cx cy w h`` (a box), ``class x1 y1 x2
y2 ...`` (a polygon), or, with ``kpt_shape: [K, D]``, ``class cx cy w h`` followed by K points of D
values (one object: its box and its keypoints, one instance group; a pose line with no labelled
point is its box, one whose box has no area its keypoints). Coordinates are fractions of the image size and are turned into pixels once the
image has been read.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml

from annotate.split_names import UNASSIGNED

from .common import (
    DatasetFiles,
    ImageSpec,
    LabelSpec,
    ObjectSpec,
    ParsedDataset,
    ProblemReport,
    parent,
    split_from_name,
)

FORMAT = "yolo"
CLASS_LISTS = ("classes.txt", "obj.names")
YAML_MAX_BYTES = 1024 * 1024


def _yaml_files(files: DatasetFiles) -> list[str]:
    """The dataset description files, shallowest first, ``data.yaml`` preferred."""
    found = files.with_suffix(".yaml", ".yml")
    return sorted(found, key=lambda n: (n.count("/"), PurePosixPath(n).stem != "data", n))


def _class_lists(files: DatasetFiles) -> list[str]:
    """Darknet-style class lists (one name a line), shallowest first."""
    found = [name for list_name in CLASS_LISTS for name in files.by_basename(list_name)]
    return sorted(found, key=lambda n: (n.count("/"), n))


def sniff(files: DatasetFiles) -> str | None:
    if not _yaml_files(files) and not _class_lists(files):
        return "There is no data.yaml (or classes.txt, obj.names) naming the classes; a YOLO dataset needs one."
    if not files.with_suffix(".txt"):
        return "There are no .txt label files (labels/<split>/<image>.txt); this is not a YOLO dataset."
    return None


def _names(files: DatasetFiles, report: ProblemReport) -> tuple[str, list[str] | None, list[int] | None, list | dict]:
    """(folder of the description, class names, kpt_shape, keypoint names)."""
    for file in _yaml_files(files):
        data = files.read(file)
        if not data.strip():
            report.add(file, "The file is empty.")
            return parent(file), None, None, []
        if len(data) > YAML_MAX_BYTES:
            report.add(file, f"The file is {len(data):,} bytes; a dataset description is at most {YAML_MAX_BYTES:,}.")
            return parent(file), None, None, []
        try:
            doc = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            report.add(file, f"The file is not valid YAML ({str(exc).splitlines()[0]}).")
            return parent(file), None, None, []
        if not isinstance(doc, dict) or "names" not in doc:
            continue
        names = doc["names"]
        if isinstance(names, dict):
            if not all(isinstance(k, int) for k in names) or sorted(names) != list(range(len(names))):
                report.add(file, "'names' must map the class indexes 0, 1, ... to names.")
                return parent(file), None, None, []
            names = [names[i] for i in range(len(names))]
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) and str(n).strip() for n in names):
            report.add(file, "'names' must be a list of class names.")
            return parent(file), None, None, []
        names = [str(n).strip()[:100] for n in names]
        if len(set(names)) != len(names):
            report.add(file, "The class names repeat.")
            return parent(file), None, None, []
        kpt_shape = doc.get("kpt_shape")
        if kpt_shape is not None and not (
            isinstance(kpt_shape, list) and len(kpt_shape) == 2 and isinstance(kpt_shape[0], int)
            and kpt_shape[0] > 0 and kpt_shape[1] in (2, 3)
        ):
            report.add(file, "'kpt_shape' must be [number of keypoints, 2 or 3].")
            return parent(file), None, None, []
        return parent(file), names, kpt_shape, doc.get("kpt_names") or []
    for file in _class_lists(files):
        text = files.read(file).decode("utf-8", errors="replace")
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if not names:
            report.add(file, "The file is empty.")
            return parent(file), None, None, []
        return parent(file), names, None, []
    report.add("", "There is no data.yaml with 'names' (nor classes.txt, obj.names) naming the classes.")
    return "", None, None, []


def label_path_for(image: str) -> str:
    """``a/images/train/x.jpg`` → ``a/labels/train/x.txt`` (the last ``images`` folder swapped)."""
    parts = list(PurePosixPath(image).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return str(PurePosixPath(*parts).with_suffix(".txt"))


def _split_of(path: str, root: str) -> str:
    inner = path[len(root) + 1:] if root else path
    for part in PurePosixPath(inner).parts[:-1]:
        split = split_from_name(part)  # train, val2017, obj_train_data, ...
        if split:
            return split
    return UNASSIGNED


def _numbers(tokens: list[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _line(tokens: list[str], names: list[str], kpt_shape) -> tuple[list[ObjectSpec] | None, str]:
    """The geometries of the object of one label line (several: one group), or (None, problem)."""
    numbers = _numbers(tokens)
    if numbers is None:
        return None, "The line holds something that is not a number."
    cls = numbers[0]
    if not cls.is_integer() or not 0 <= cls < len(names):
        return None, f"The class {tokens[0]} is not one of the {len(names)} classes in data.yaml (0..{len(names) - 1})."
    name, values = names[int(cls)], numbers[1:]
    if kpt_shape:
        count, dims = kpt_shape
        if len(values) != 4 + count * dims:
            return None, f"A pose line needs class, 4 box values and {count}x{dims} keypoint values; got {len(values)} values."
        cx, cy, w, h = values[:4]
        points = []
        for i in range(count):
            x, y = values[4 + i * dims], values[5 + i * dims]
            v = values[6 + i * dims] if dims == 3 else (0 if x == 0 and y == 0 else 2)
            points.append([x, y, int(v) if float(v).is_integer() else v])
        box = ObjectSpec(name, "box", {"x": cx - w / 2, "y": cy - h / 2, "w": w, "h": h}, "", normalized=True)
        if not any(p[2] for p in points):  # no labelled point: the object is its box
            return [box], ""
        keypoints = ObjectSpec(name, "keypoints", {"points": points}, "", normalized=True)
        return ([box, keypoints] if w > 0 and h > 0 else [keypoints]), ""
    if len(values) == 4:
        cx, cy, w, h = values
        return [ObjectSpec(name, "box", {"x": cx - w / 2, "y": cy - h / 2, "w": w, "h": h}, "", normalized=True)], ""
    if len(values) >= 6 and len(values) % 2 == 0:
        return [ObjectSpec(name, "polygon", {"polygons": [values]}, "", normalized=True)], ""
    return None, f"Expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...'; got {len(values)} values after the class."


def _keypoint_labels(dataset: ParsedDataset, names: list[str], count: int, kpt_names) -> None:
    """Give keypoint names to the classes that have keypoints.

    ``kpt_names`` may name them per class (``{index: [names]}``) or for all; classes it does not
    cover get ``kp0``, ``kp1``, ... (matched by count to a project label) if any of their lines has
    a labelled point. Classes that never do hold plain boxes (their lines were read as boxes).
    """
    with_points = {obj.label for image in dataset.images for obj in image.objects if obj.kind == "keypoints"}
    for index, name in enumerate(names):
        given = kpt_names.get(index) if isinstance(kpt_names, dict) else kpt_names
        if isinstance(given, list) and len(given) == count and len(set(map(str, given))) == count:
            dataset.labels[name] = LabelSpec(name, [str(n) for n in given])
        elif name in with_points:
            dataset.labels[name] = LabelSpec(name, [f"kp{i}" for i in range(count)], generated_names=True)


def read(files: DatasetFiles, report: ProblemReport) -> ParsedDataset:
    dataset = ParsedDataset(FORMAT)
    root, names, kpt_shape, kpt_names = _names(files, report)
    if names is None:
        return dataset
    for name in names:
        dataset.label(LabelSpec(name))
    prefix = f"{root}/" if root else ""
    images = [name for name in files.images() if name.startswith(prefix)]
    used_labels: set[str] = set()
    for image in images:
        spec = ImageSpec(file=image, split=_split_of(image, root))
        dataset.images.append(spec)
        label_file = label_path_for(image)
        if label_file not in files:
            continue
        used_labels.add(label_file)
        spec.where = label_file
        try:
            text = files.read(label_file).decode("utf-8")
        except UnicodeDecodeError:
            report.add(label_file, "The file is not UTF-8 text.")
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            tokens = line.split()
            if not tokens:
                continue
            parts, problem = _line(tokens, names, kpt_shape)
            if parts is None:
                report.add(label_file, problem, f"line {number}")
                continue
            for part in parts:
                part.where = f"line {number}"
            spec.add_object(parts)
    if kpt_shape:
        _keypoint_labels(dataset, names, kpt_shape[0], kpt_names)
    for label_file in files.with_suffix(".txt"):
        if not label_file.startswith(prefix) or label_file in used_labels:
            continue
        if "labels" in PurePosixPath(label_file).parts and PurePosixPath(label_file).name not in CLASS_LISTS:
            report.add(label_file, "There is no image for this label file (looked for images/<same path>.jpg, .png, ...).")
    return dataset
