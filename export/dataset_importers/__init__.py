"""Readers for datasets in the ecosystem's formats, one module per format.

Each reader module has ``FORMAT``, ``sniff(files)`` (why the files cannot be that format, from
their names alone; cheap enough to run inside a request) and ``read(files, report)`` (the whole
dataset as a :class:`~export.dataset_importers.common.ParsedDataset`, problems added to ``report``).
"""

from . import coco, imagefolder, voc, yolo

READERS = {module.FORMAT: module for module in (coco, yolo, voc, imagefolder)}
FORMATS = tuple(READERS)
