"""What every dataset reader produces, the files it reads from, and the problem report.

A reader turns a dataset in some format into a :class:`ParsedDataset`: labels by name and, for
every image file, its split and objects. Readers do not touch the database and do not decide
whether geometry is acceptable (that is :mod:`annotate.geometry`'s job, applied by the import
service); they only record what the files say, and add a :class:`Problem` for everything they
cannot make sense of, so that a refused import lists every problem found, not just the first.

Files come from :class:`DatasetFiles`: a checked zip archive or a folder on disk, seen the same
way (relative POSIX paths). A single folder wrapping everything (``dataset/...``, common in zips)
is looked through. Every read is capped (:meth:`DatasetFiles.read`), so that no file, whatever its
header or size on disk claims, makes the importer hold more than the cap in memory.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings

from annotate.archives import IGNORED_PARTS, ArchiveRejected, file_members, open_checked_zip, read_member
from annotate.split_names import TEST, TRAIN, UNASSIGNED, VAL

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# Names by which datasets call their splits, normalised to ours.
SPLIT_NAMES = {
    "train": TRAIN, "training": TRAIN,
    "val": VAL, "valid": VAL, "validation": VAL,
    "test": TEST, "testing": TEST,
}
_SPLIT_TOKEN = re.compile(r"(?:^|[^a-z])((train|training|val|valid|validation|test|testing)\d*)(?:$|[^a-z0-9])")


def split_from_name(name: str) -> str | None:
    """The split a file or folder name speaks of (``instances_train2017`` → train), if any."""
    match = _SPLIT_TOKEN.search(name.lower())
    return SPLIT_NAMES[match.group(2)] if match else None


def split_token(name: str) -> str | None:
    """The part of a name that gives its split, as written (``instances_train2017`` → train2017)."""
    match = _SPLIT_TOKEN.search(name.lower())
    return name[match.start(1):match.end(1)] if match else None


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


# --- problems -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    object: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, {self.object}" if self.object else self.file
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {"file": self.file, "object": self.object, "message": self.message}


class ProblemReport:
    """Collects what is wrong with a dataset; keeps the first ``keep`` problems and counts all.

    ``hints`` (what the user can do about it, e.g. an option that would help) end its text.
    """

    def __init__(self, keep: int = 100):
        self.keep = keep
        self.count = 0
        self.problems: list[Problem] = []
        self.hints: list[str] = []

    def add(self, file: str, message: str, object: str = "") -> None:
        self.count += 1
        if len(self.problems) < self.keep:
            self.problems.append(Problem(file, object, message))

    def __bool__(self) -> bool:
        return self.count > 0

    def as_text(self, first: int = 20) -> str:
        lines = [f"The dataset has {self.count} problem(s), so nothing was imported. The first ones:"]
        lines += [f"- {problem}" for problem in self.problems[:first]]
        if self.count > first:
            lines.append(f"... and {self.count - first} more.")
        lines += self.hints
        return "\n".join(lines)

    def as_list(self, first: int = 100) -> list[dict]:
        return [problem.as_dict() for problem in self.problems[:first]]


class ImportRefused(Exception):
    """The dataset cannot be imported; ``report`` says why (file, object, what is wrong)."""

    def __init__(self, report: ProblemReport):
        super().__init__(report.as_text())
        self.report = report


def refuse(message: str, file: str = "") -> ImportRefused:
    """An :class:`ImportRefused` with a single problem."""
    report = ProblemReport()
    report.add(file, message)
    return ImportRefused(report)


# --- what readers produce -------------------------------------------------------------------
@dataclass
class LabelSpec:
    name: str
    keypoint_names: list[str] = field(default_factory=list)
    skeleton: list[list[int]] = field(default_factory=list)
    generated_names: bool = False  # keypoint names made up (YOLO has none): matched by count


@dataclass
class ObjectSpec:
    """One annotation as the dataset states it.

    ``geometry`` has the shape of :mod:`annotate.geometry`; when ``normalized`` is set its
    coordinates are fractions of the image size (YOLO) and become pixels once the image's size
    is known.

    The geometries of one object of the dataset (a COCO entry's box, segmentation and keypoints)
    are one spec each with the same ``group``: a number unique among the image's objects (any
    numbering; the import stores the canonical one, :func:`annotate.geometry.groups_renumber`).
    An object of a single geometry has none. Each part keeps the object's ``where``.
    """

    label: str
    kind: str
    geometry: dict
    where: str
    attributes: dict = field(default_factory=dict)
    normalized: bool = False
    group: int | None = None


@dataclass
class ImageSpec:
    file: str  # path within the DatasetFiles
    split: str = UNASSIGNED
    objects: list[ObjectSpec] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) declared by the annotation file
    where: str = ""  # the annotation file that describes it
    groups: int = 0  # group numbers given so far (see add_object)

    def add_object(self, parts: list[ObjectSpec]) -> None:
        """Add one object of the dataset as its geometries: one group when there are several."""
        if len(parts) > 1:
            self.groups += 1
            for part in parts:
                part.group = self.groups
        self.objects.extend(parts)


@dataclass
class ParsedDataset:
    format: str
    labels: dict[str, LabelSpec] = field(default_factory=dict)
    images: list[ImageSpec] = field(default_factory=list)

    def label(self, spec: LabelSpec) -> None:
        self.labels.setdefault(spec.name, spec)


# --- where files come from ------------------------------------------------------------------
def _common_root(names: Iterable[str]) -> str:
    """The folder wrapping every file (``dataset/``), repeated, or ''."""
    names = list(names)
    prefix = ""
    while names:
        tops = {name.split("/", 1)[0] for name in names}
        if len(tops) != 1 or any("/" not in name for name in names):
            break
        top = tops.pop()
        prefix += top + "/"
        names = [name.split("/", 1)[1] for name in names]
    return prefix


class DatasetFiles:
    """The regular files of a dataset by relative POSIX path, from a checked zip or a folder."""

    def __init__(self, names: list[str]):
        self.names = sorted(names)
        self._basenames: dict[str, list[str]] = {}
        for name in self.names:
            self._basenames.setdefault(PurePosixPath(name).name.lower(), []).append(name)
        self._set = set(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._set

    def read(self, name: str, *, limit: int | None = None) -> bytes:
        """The file's bytes; raises :class:`ArchiveRejected` when it holds more than ``limit``.

        The default limit is ``IMAGE_MAX_BYTES`` for an image (by its name) and
        ``IMPORT_ANNOTATION_MAX_BYTES`` for anything else (annotation files may be much larger).
        A file over it is refused by its declared size without being read, and the read itself
        stops one byte past the limit.
        """
        return self._read(name, self.limit_for(name) if limit is None else limit)

    @staticmethod
    def limit_for(name: str) -> int:
        return settings.IMAGE_MAX_BYTES if is_image_name(name) else settings.IMPORT_ANNOTATION_MAX_BYTES

    def _read(self, name: str, limit: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def by_basename(self, name: str) -> list[str]:
        return self._basenames.get(PurePosixPath(name).name.lower(), [])

    def with_suffix(self, *suffixes: str) -> list[str]:
        return [name for name in self.names if name.lower().endswith(suffixes)]

    def images(self) -> list[str]:
        return [name for name in self.names if is_image_name(name)]

    def __enter__(self) -> DatasetFiles:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ZipDatasetFiles(DatasetFiles):
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        members = file_members(archive)
        root = _common_root(info.filename for info in members)
        self._infos = {info.filename[len(root):]: info for info in members}
        super().__init__(list(self._infos))

    def _read(self, name: str, limit: int) -> bytes:
        return read_member(self.archive, self._infos[name], limit=limit)

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def close(self) -> None:
        self.archive.close()


class FolderDatasetFiles(DatasetFiles):
    """A dataset unpacked on disk. Links are not followed, so nothing outside the folder is read."""

    def __init__(self, folder: Path):
        self.folder = folder
        found = []
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_PARTS and not d.startswith(".")]
            for filename in filenames:
                path = Path(dirpath) / filename
                if filename in IGNORED_PARTS or filename.startswith("._") or path.is_symlink():
                    continue
                found.append(path.relative_to(folder).as_posix())
        root = _common_root(found)
        self.root = folder / root if root else folder
        super().__init__([name[len(root):] for name in found])

    def _read(self, name: str, limit: int) -> bytes:
        path = self.root / name
        size = path.stat().st_size
        if size > limit:
            raise ArchiveRejected(f"{name} is {size:,} bytes; the limit is {limit:,}; it was not read.")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # it may have grown since
        if len(data) > limit:
            raise ArchiveRejected(f"{name} holds more than {limit:,} bytes; the limit is {limit:,}.")
        return data

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size


def dataset_files_open(path: str | Path) -> DatasetFiles:
    """The files of a zip archive (checked: no escaping paths, links or bombs) or of a folder."""
    path = Path(path)
    if path.is_dir():
        return FolderDatasetFiles(path)
    if not path.is_file():
        raise ArchiveRejected(f"{path} is neither a zip archive nor a folder.")
    return ZipDatasetFiles(open_checked_zip(str(path)))


def resolve_image(files: DatasetFiles, reference: str, *folders: str) -> tuple[str | None, str]:
    """Find the file an annotation refers to: relative to each of ``folders``, then by unique name.

    Returns (path or None, why not found).
    """
    reference = (reference or "").replace("\\", "/")
    while reference.startswith("./"):
        reference = reference[2:]
    if not reference:
        return None, "no file name is given"
    for folder in (*folders, ""):
        candidate = os.path.normpath(f"{folder}/{reference}" if folder else reference).replace("\\", "/")
        if candidate in files:
            return candidate, ""
    matches = files.by_basename(reference)
    if len(matches) == 1:
        return matches[0], ""
    if len(matches) > 1:
        return None, f"the name {PurePosixPath(reference).name!r} matches several files ({', '.join(matches[:3])})"
    return None, f"the image file {reference!r} is not in the dataset"


def parent(name: str) -> str:
    folder = PurePosixPath(name).parent.as_posix()
    return "" if folder == "." else folder
