"""The names of the splits, in one place and without Django.

:class:`annotate.models.Split` is built from these; code that runs outside Django (the
augmentation worker processes) imports them from here.
"""

from __future__ import annotations

TRAIN = "train"
VAL = "val"
TEST = "test"
UNASSIGNED = "unassigned"
# The splits an image is placed in, in the order they are listed, apportioned and written.
SPLITS: tuple[str, str, str] = (TRAIN, VAL, TEST)
