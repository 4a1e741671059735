"""The seams of a version build: the item and context types, build steps and materializers.

Other apps plug into the build without the build naming them (the dependency points from them
to ``datasets``, never back), by registering from their ``AppConfig.ready``:

- a **build step** (:func:`step_register`) transforms the stream of :class:`VersionItem` after
  preprocessing, e.g. the augmentation app adds augmented copies of the train split. A step that
  reads options from the version's parameters names its ``params_key`` and a ``clean`` function:
  the options are then checked **when the build is requested** (a wrong recipe id is a 400 naming
  the field) rather than deep inside the job;
- a **materializer** (:func:`materializer_register`) precomputes per-image text that a dataset
  writer would otherwise make on every export (COCO annotation entries, YOLO label lines), once,
  while the version's rows are written (a version never changes afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from annotate.models import Project

    from .models import DatasetVersion


class JobProgress(Protocol):
    """What a build sees of its job (``jobs.runner.JobContext`` is one)."""

    def progress(self, fraction: float, message: str | None = None, *, force: bool = False) -> None: ...


@dataclass
class VersionItem:
    """One image on its way into a version. Geometry is in pixels of ``file``.

    ``annotations`` are ``{"label": name, "kind", "geometry", "attributes", "source"}`` dicts, with
    ``"group"`` (the object's number in the image) on the parts of a multi-geometry object;
    ``image_id`` is the project image it came from (None for an image a step made).
    """

    file: str  # path under MEDIA_ROOT
    sha256: str
    mime_type: str
    width: int
    height: int
    original_name: str
    source: str
    split: str
    annotations: list[dict] = field(default_factory=list)
    image_id: int | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class BuildContext:
    """The version being built, its recorded parameters, and its job (None outside a job)."""

    version: DatasetVersion
    params: dict
    job: JobProgress | None = None
    total: int = 0  # images selected, for progress

    def progress(self, fraction: float, message: str | None = None) -> None:
        if self.job is not None:
            self.job.progress(fraction, message)


class BuildStep(Protocol):
    """``step(ctx, items) -> items``: a generator over the stream, so the build stays streaming."""

    def __call__(self, ctx: BuildContext, items: Iterable[VersionItem], /) -> Iterator[VersionItem]: ...


ParamsClean = Callable[["Project", Any], Any]


@dataclass(frozen=True)
class RegisteredStep:
    name: str
    run: BuildStep
    params_key: str | None = None  # the key of the version's params the step reads
    clean: ParamsClean | None = None  # (project, value) -> cleaned value; raises ValidationError


_STEPS: dict[str, RegisteredStep] = {}


def step_register(name: str, run: BuildStep, *, params_key: str | None = None, clean: ParamsClean | None = None) -> None:
    """Add a step to every build, after preprocessing, in registration order (a name registered
    again replaces the earlier step in place)."""
    _STEPS[name] = RegisteredStep(name, run, params_key, clean)


def step_unregister(name: str) -> None:
    _STEPS.pop(name, None)


def registered_steps() -> list[RegisteredStep]:
    return list(_STEPS.values())


def step_params_clean(*, project: Project, params: dict) -> dict:
    """Run the registered steps' checks on their options (``ValidationError`` names the field)."""
    cleaned = dict(params)
    for step in _STEPS.values():
        if step.params_key and step.clean is not None and params.get(step.params_key) is not None:
            cleaned[step.params_key] = step.clean(project, params[step.params_key])
    return cleaned


class RowText(Protocol):
    """Per-image text of one writer: ``(annotations, index=, offset=, width=, height=) -> str``."""

    def __call__(self, annotations: list[dict], *, index: int, offset: int, width: int, height: int) -> str: ...


class Materializer(Protocol):
    """Precomputed per-image output of one writer, stored in the ``VersionImage`` column ``name``.

    ``row_text(version, kinds)`` is asked before the rows are written, with the annotation kinds
    the selection holds; it returns the per-image function, or None when this version cannot be
    written in that format. ``key(version, kinds)`` names what the text depends on (e.g. YOLO's
    task): if the kinds actually frozen give another key (a resize dropped every mask), the
    stored text is not used and the writer makes it on the fly.
    """

    name: str
    revision: int

    def row_text(self, version: DatasetVersion, kinds: set[str]) -> RowText | None: ...

    def key(self, version: DatasetVersion, kinds: set[str]) -> object: ...


_MATERIALIZERS: dict[str, Materializer] = {}


def materializer_register(materializer: Materializer) -> None:
    from .models import VersionImage

    if materializer.name not in VersionImage.MATERIALIZED_COLUMNS:
        raise ValueError(f"No VersionImage column holds {materializer.name!r}; use one of {VersionImage.MATERIALIZED_COLUMNS}.")
    _MATERIALIZERS[materializer.name] = materializer


def registered_materializers() -> list[Materializer]:
    return list(_MATERIALIZERS.values())
