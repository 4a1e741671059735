"""Image-folder reader for classification: ``<class>/<image>`` or ``<split>/<class>/<image>``.

Each image gets one tag annotation, its folder's class. The split layout is recognised when every
top-level folder is a split name (``train``, ``val``/``valid``, ``test``). Files that are not images
(a README, a CSV) are left alone; an image elsewhere than in a class folder is a problem, since
its class would be a guess.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from annotate.split_names import UNASSIGNED

from .common import SPLIT_NAMES, DatasetFiles, ImageSpec, LabelSpec, ObjectSpec, ParsedDataset, ProblemReport

FORMAT = "imagefolder"


def _split_layout(images: list[str]) -> bool:
    tops = {name.split("/", 1)[0].lower() for name in images if "/" in name}
    return bool(tops) and tops <= set(SPLIT_NAMES)


def sniff(files: DatasetFiles) -> str | None:
    images = files.images()
    if not any("/" in name for name in images):
        return "There are no images in class folders; an image-folder dataset is <class>/<image> or <split>/<class>/<image>."
    # Annotation files say the dataset is in another format; a JSON or CSV at the root (a manifest,
    # a list of the images) does not.
    annotation_files = files.with_suffix(".xml", ".yaml", ".yml") + [n for n in files.with_suffix(".json") if "/" in n]
    if annotation_files:
        return (
            f"The dataset holds annotation files ({annotation_files[0]}, ...); an image-folder dataset has "
            "only images in class folders. Choose the format those files are in."
        )
    return None


def read(files: DatasetFiles, report: ProblemReport) -> ParsedDataset:
    dataset = ParsedDataset(FORMAT)
    images = files.images()
    split_layout = _split_layout(images)
    depth = 3 if split_layout else 2
    layout = "<split>/<class>/<image>" if split_layout else "<class>/<image>"
    for name in images:
        parts = PurePosixPath(name).parts
        if len(parts) != depth:
            report.add(name, f"The image is not in a class folder; the layout here is {layout}.")
            continue
        label = parts[-2][:100]
        dataset.label(LabelSpec(label))
        split = SPLIT_NAMES[parts[0].lower()] if split_layout else UNASSIGNED
        dataset.images.append(ImageSpec(file=name, split=split, objects=[ObjectSpec(label, "tag", {}, "tag")]))
    return dataset
