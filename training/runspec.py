"""The :class:`~training.protocol.RunSpec` of a run: its settings and its version's frozen rows.

Built by the job when it starts (and again on a resume: a version never changes, so the items
are the same; only server paths and thread settings may have moved).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotate import storage
from annotate.keypoints import oks_sigmas
from annotate.models import LabelClass
from jobs.runner import JobError

from .data import (
    detection_boxes,
    image_tags,
    keypoint_instances,
    keypoint_label_choice,
    segment_classes,
    segments_of,
    version_rows,
)
from .models import TrainingRun
from .protocol import BEST_FILE, RunItem, RunSpec


def version_resize_mode(version) -> str:
    """How the version's images reach a square input: the version's own resize mode, else stretch."""
    resize = ((version.params or {}).get("preprocessing") or {}).get("resize") or {}
    return resize.get("mode") or "stretch"


def initial_weights_path(run: TrainingRun) -> str | None:
    if run.init_from_id:
        path = run.init_from.folder / BEST_FILE
        if not path.is_file():
            raise JobError(f"Run {run.init_from_id}'s best model ({BEST_FILE}) is gone; this run cannot start from it.")
        return str(path)
    if run.init_weights_file:
        if not Path(run.init_weights_file).is_file():
            raise JobError(f"The initial weights file {Path(run.init_weights_file).name!r} is gone.")
        return run.init_weights_file
    return None


def _flat_points(points: list, count: int) -> list[float]:
    """Stored ``[[x, y, v], ...]`` as the flat row of ``count`` points a :class:`RunItem` carries
    (an instance without keypoints: all unlabeled)."""
    if not points:
        return [0.0] * (3 * count)
    return [float(value) for point in points[:count] for value in (point[0], point[1], point[2])]


def run_item(task: str, path: str, split: str, width: int, height: int, annotations: list,
             labels: list[str], options: dict) -> RunItem | None:
    """One image's :class:`RunItem` for ``task``, its annotations read as the run's classes
    ``labels`` (output order) and ``options`` (``keypoint_label``/``keypoint_names`` of a pose run),
    or None for an image the task leaves out (a classification image without exactly one tag).
    Used for a run's version rows and for corrupted copies of them (the robustness report)."""
    index = {name: i for i, name in enumerate(labels)}
    if task == TrainingRun.Task.CLASSIFY:
        tags = image_tags(annotations)
        if len(tags) != 1 or tags[0] not in index:
            return None
        return RunItem(path=path, split=split, width=width, height=height, label=index[tags[0]])
    if task == TrainingRun.Task.DETECT:
        return RunItem(path=path, split=split, width=width, height=height, boxes=[
            [float(x), float(y), float(w), float(h), index[label]]
            for label, (x, y, w, h) in detection_boxes(annotations) if label in index
        ])
    if task == TrainingRun.Task.KEYPOINTS:
        instances = keypoint_instances(annotations, options["keypoint_label"])
        count = len(options["keypoint_names"])
        return RunItem(
            path=path, split=split, width=width, height=height,
            boxes=[[float(x), float(y), float(w), float(h), 0] for (x, y, w, h), _ in instances],
            keypoints=[_flat_points(points, count) for _, points in instances],
        )
    if task == TrainingRun.Task.SEGMENT:
        return RunItem(path=path, split=split, width=width, height=height, segments=segments_of(annotations, index))
    raise JobError(f"No training process serves the task {task!r} yet.")


def run_labels_and_options(run: TrainingRun, rows: list) -> tuple[list[str], dict]:
    """The run's classes in output order and its options completed with what the task needs
    from the version (a pose run's keypoint names, skeleton and OKS sigmas)."""
    version = run.version
    options = dict(run.options or {})
    if run.task == TrainingRun.Task.CLASSIFY:
        used = {tags[0] for *_, anns in rows if len(tags := image_tags(anns)) == 1}
        labels = [name for name in version.label_names if name in used]
    elif run.task == TrainingRun.Task.DETECT:
        used = {label for *_, anns in rows for label, _ in detection_boxes(anns)}
        labels = [name for name in version.label_names if name in used]
    elif run.task == TrainingRun.Task.KEYPOINTS:
        label, problem = keypoint_label_choice(version, options)
        if label is None:
            raise JobError(problem or "No keypoint class to train.")
        labels = [label["name"]]
        names = list(label["keypoint_names"])
        current = LabelClass.objects.filter(project_id=version.project_id, name=label["name"]).first()
        options.update(
            keypoint_label=label["name"],
            keypoint_names=names,
            skeleton=[list(edge) for edge in label.get("skeleton") or []],
            sigmas=oks_sigmas(names, current.keypoint_sigmas if current is not None and current.keypoint_names == names else None),
        )
    elif run.task == TrainingRun.Task.SEGMENT:
        labels = segment_classes(version)
    else:
        raise JobError(f"No training process serves the task {run.task!r} yet.")
    return labels, options


def run_spec_build(run: TrainingRun) -> RunSpec:
    """Everything the training process needs, from the run and its version."""
    version = run.version
    if version is None:
        raise JobError("The run's dataset version was deleted; nothing to train on.")
    rows = list(version_rows(version))
    labels, options = run_labels_and_options(run, rows)
    items = [
        item
        for file, _name, split, width, height, anns in rows
        # (an image a task leaves out was refused when the run was started; a version never changes)
        if (item := run_item(run.task, str(storage.media_path(file)), split, width, height, anns, labels, options))
    ]
    if not labels:
        raise JobError(f"Version {version.number} has nothing a {run.task} model can learn.")
    recipe = run.recipe
    return RunSpec(
        run_id=run.pk,
        task=run.task,
        architecture=run.architecture,
        input_size=run.input_size,
        resize=version_resize_mode(version),
        epochs=run.epochs,
        batch_size=run.batch_size,
        learning_rate=run.learning_rate,
        schedule=run.schedule,
        warmup_epochs=run.warmup_epochs,
        seed=run.seed,
        labels=labels,
        items=items,
        options=options,
        recipe=dict(recipe.spec) if recipe is not None else None,
        recipe_labels={
            label["name"]: {"name": label["name"], "keypoint_names": list(label.get("keypoint_names") or [])}
            for label in version.labels
        } if recipe is not None else {},
        initial_weights=initial_weights_path(run),
        threads=int(getattr(settings, "TRAINING_THREADS", 2)),
        export=dict(getattr(settings, "TRAINING_EXPORT", {}) or {}),
        version={
            "id": version.pk, "number": version.number, "name": version.name,
            "content_hash": version.content_hash, "project": version.project_id,
        },
    )
