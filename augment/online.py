"""Online augmentation: a recipe as a plain function for a training input pipeline.

The training loop calls it per sample (e.g. inside a ``tf.data`` ``numpy_function`` or a Python
generator); it is the same code path as the offline engine and the preview, so what a user saw in
the preview is what the model trains on. No Django, no files: numpy in, numpy out.

Example::

    augment = online_augmenter(recipe.spec, labels={3: {"name": "face", "keypoint_names": [...]}}, seed=0)
    image, annotations = augment(image, annotations)           # next random draw
    image, annotations = augment(image, annotations, seed=42)  # an exact, reproducible draw
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .offline import label_infos
from .pipeline import Augmenter
from .recipes import validate_spec


class OnlineAugmenter:
    """Callable ``(image, annotations, seed=None) -> (image, annotations)`` for one recipe.

    Without ``seed`` each call draws the next seed from a generator started at ``seed`` given to
    the constructor, so a training run is reproducible as a whole; with ``seed`` the call is
    reproducible on its own. An instance keeps per-call state: use one per thread (or per
    ``tf.data`` worker), not one shared by parallel calls.
    """

    def __init__(self, spec: dict, *, labels: Mapping[Any, Mapping] | None = None, seed: int | None = None):
        validate_spec(spec)
        self.augmenter = Augmenter(spec, labels=label_infos(labels))
        self._seeds = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray, annotations: Sequence[dict] = (), *, seed: int | None = None
                 ) -> tuple[np.ndarray, list[dict]]:
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError("The image must be an H x W (x 3) uint8 array.")
        if seed is None:
            seed = int(self._seeds.integers(0, 2**32 - 1))
        return self.augmenter(image, list(annotations), seed=seed)


def online_augmenter(spec: dict, *, labels: Mapping[Any, Mapping] | None = None, seed: int | None = None
                     ) -> Callable[..., tuple[np.ndarray, list[dict]]]:
    """The recipe ``spec`` as a function for the training input pipeline (see the module doc)."""
    return OnlineAugmenter(spec, labels=labels, seed=seed)
