"""The one check of a training run's settings, before anything is written or queued.

:func:`run_params_clean` is what the API, the admin and ``manage.py train`` all go through (via
:func:`training.services.training_run_start`): it completes the defaults and raises Django's
``ValidationError`` with every problem found, keyed by the field it is about (``options.alpha``
for an option), so the API answers a 400 naming the field and the admin shows it on the form.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate.models import Project
from augment.models import Recipe
from augment.recipes import RecipeError, validate_spec
from datasets.models import DatasetVersion
from jobs.models import Job

from . import catalog
from .data import CHECKS
from .models import TrainingRun
from .protocol import BEST_FILE

FIELDS = (
    "version", "task", "architecture", "input_size", "epochs", "batch_size", "learning_rate", "schedule",
    "warmup_epochs", "options", "recipe", "init_from", "init_weights_file", "seed",
)
EPOCHS = (1, 1000)
BATCH_SIZE = (1, 1024)
SEED_MAX = 2**31 - 1
WEIGHT_SUFFIXES = (".keras", ".h5")
DEFAULTS: dict[str, Any] = {
    "architecture": "mobilenet_v3_small",
    "input_size": catalog.DEFAULT_INPUT_SIZE,
    "epochs": 30,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "schedule": "cosine",
    "seed": 0,
}


def default_warmup(epochs: int) -> int:
    """Warm-up epochs when none are given: a fifth of the run, at most 3 (none under 5 epochs)."""
    return max(0, min(3, epochs // 5))


def _whole(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return None


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def _pruning_clean(value: Any, errors: dict[str, str]) -> dict | None:
    """``options.pruning``: None/false (dense), a target sparsity, or an object of
    :data:`catalog.PRUNING_KEYS`; the cleaned object with its defaults."""
    if value in (None, False, 0, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"sparsity": value}
    if not isinstance(value, dict) or "sparsity" not in value:
        errors["options.pruning"] = 'Pruning is an object with a target "sparsity" (e.g. {"sparsity": 0.5}), or that number.'
        return None
    cleaned = dict(catalog.PRUNING_DEFAULTS)
    for key, item in value.items():
        rule = catalog.PRUNING_KEYS.get(key)
        if rule is None:
            errors[f"options.pruning.{key}"] = f"Unknown pruning setting {key!r}; the settings are {', '.join(catalog.PRUNING_KEYS)}."
            continue
        number = _whole(item, *rule) if key == "frequency" else _number(item)
        low, high = rule
        if number is None or not low <= number <= high or (key == "sparsity" and number == 0):
            errors[f"options.pruning.{key}"] = (
                f"pruning {key} is a {'whole number' if key == 'frequency' else 'number'} in "
                f"{'(0' if key == 'sparsity' else low}..{high}{']' if key == 'sparsity' else ''}; got {item!r}."
            )
            continue
        cleaned[key] = number
    if cleaned.get("begin", 0.0) >= cleaned.get("end", 0.8):
        errors["options.pruning.end"] = "Pruning must end after it begins (end > begin, both shares of the run's steps)."
    return cleaned


def _options_clean(raw: Any, architecture: catalog.Architecture | None, task: str | None, errors: dict[str, str]) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors["options"] = "The options are an object: alpha, minimalistic, bn_momentum, class_weights."
        return {}
    known = {**(architecture.options if architecture else {}), **catalog.COMMON_OPTIONS}
    all_options = {"alpha", "minimalistic", "pruning", *catalog.COMMON_OPTIONS, *catalog.ADVANCED_OPTIONS, *catalog.TASK_OPTIONS}
    options: dict[str, Any] = dict(known)
    for key, value in raw.items():
        field = f"options.{key}"
        if key not in all_options:
            errors[field] = f"Unknown option {key!r}; the options are {', '.join(sorted(all_options))}."
            continue
        if key == "pruning":
            pruning = _pruning_clean(value, errors)
            if pruning is not None:
                options[key] = pruning
            continue
        if key in catalog.TASK_OPTIONS:
            owner, kind, *rule = catalog.TASK_OPTIONS[key]
            if value in (None, ""):
                continue
            if task and task != owner:
                errors[field] = f"{key} is an option of {owner} runs, not of {task} runs."
            elif kind == "choice" and value not in rule:
                errors[field] = f"{key} is one of {', '.join(rule)}; got {value!r}."
            elif kind == "text" and not isinstance(value, str):
                errors[field] = f"{key} is a label name; got {value!r}."
            elif kind == "bool" and not isinstance(value, bool):
                errors[field] = f"{key} is true or false; got {value!r}."
            else:
                options[key] = value
            continue
        if key in catalog.ADVANCED_OPTIONS:
            if value is None:
                continue
            kind, *rule = catalog.ADVANCED_OPTIONS[key]
            if kind == "choice":
                if value not in rule:
                    errors[field] = f"{key} is one of {', '.join(rule)}; got {value!r}."
                else:
                    options[key] = value
            else:
                number = _number(value)
                if number is None or not rule[0] <= number <= rule[1] or (key == "clipnorm" and number == 0):
                    errors[field] = f"{key} is a number in {rule[0]}..{rule[1]}; got {value!r}."
                else:
                    options[key] = number
            continue
        if key not in known:
            if value in (None, False) or (key == "alpha" and value in (1, 1.0)):
                continue  # the neutral value of an option this backbone does not have
            errors[field] = f"{architecture.title if architecture else 'This architecture'} has no option {key!r}; it is a MobileNetV3 option."
            continue
        if value is None:
            continue  # keep the default
        if key == "alpha":
            alpha = _number(value)
            low, high = catalog.ALPHA_RANGE
            if alpha is None or not low <= alpha <= high:
                errors[field] = f"The width multiplier alpha is a number in {low}..{high}; got {value!r}."
            else:
                options[key] = alpha
        elif key in ("minimalistic", "class_weights"):
            flag = _boolean(value)
            if flag is None:
                errors[field] = f"{key} is true or false; got {value!r}."
            else:
                options[key] = flag
        elif key == "bn_momentum":
            if value == "auto" or value == "":
                options[key] = "auto"
                continue
            momentum = _number(value)
            if momentum is None or not 0 < momentum < 1:
                errors[field] = f"The batch-norm momentum is 'auto' or a number between 0 and 1 (exclusive); got {value!r}."
            else:
                options[key] = momentum
    if options.get("ema") and options.get("pruning"):
        errors["options.ema"] = "Weight averaging (ema) and pruning do not mix: the average of pruned weights is not sparse."
    return options


def _version_clean(project: Project, value: Any, errors: dict[str, str]) -> DatasetVersion | None:
    if value in (None, ""):
        errors["version"] = "Choose the dataset version to train on."
        return None
    pk = _pk(value)
    if _whole(pk, 1, 2**63 - 1) is None:
        errors["version"] = f"A version is given by its id; got {value!r}."
        return None
    version = DatasetVersion.objects.filter(pk=int(pk), project=project).first()
    if version is None:
        errors["version"] = f"Version {pk} is not a version of this project."
        return None
    if version.status != DatasetVersion.Status.READY:
        errors["version"] = (
            f"Version {version.number} is {version.status}; only a ready version can be trained on"
            + (" (wait until its build ends)." if version.status == DatasetVersion.Status.BUILDING else ".")
        )
        return None
    images = (version.counts or {}).get("images", {})
    empty = [split for split in ("train", "test") if not images.get(split)]
    if empty:
        errors["version"] = (
            f"Version {version.number} has no images in its {' and '.join(empty)} split"
            f"{'s' * (len(empty) > 1)}; a run trains on train and is measured on test (and picks its best "
            "epoch on val, or keeps the last one when val is empty). Build a version with images in both."
        )
        return None
    return version


def _recipe_clean(project: Project, value: Any, version: DatasetVersion | None, errors: dict[str, str]) -> Recipe | None:
    if value in (None, ""):
        return None
    pk = _pk(value)
    recipe = Recipe.objects.filter(pk=pk, project=project).first() if _whole(pk, 1, 2**63 - 1) else None
    if recipe is None:
        errors["recipe"] = f"Recipe {pk} is not a recipe of this project."
        return None
    if version is not None:
        keypoints = {label["name"]: list(label.get("keypoint_names") or []) for label in version.labels}
        try:
            validate_spec(recipe.spec, labels=keypoints)
        except RecipeError as exc:
            errors["recipe"] = f"Recipe {recipe.name!r} cannot augment version {version.number}: {exc}"
            return None
    return recipe


def _init_from_clean(
    project: Project, value: Any, task: str | None, architecture: str | None, options: dict, errors: dict[str, str]
) -> TrainingRun | None:
    if value in (None, ""):
        return None
    pk = _pk(value)
    run = (
        TrainingRun.objects.select_related("job").filter(pk=pk, project=project).first()
        if _whole(pk, 1, 2**63 - 1) else None
    )
    if run is None:
        errors["init_from"] = f"Run {pk} is not a training run of this project."
        return None
    if task and run.task != task:
        errors["init_from"] = (
            f"Run {run.pk} trained a {run.task} model; a {task} run can only start from the weights of "
            f"another {task} run."
        )
        return None
    if run.status != Job.Status.SUCCEEDED:
        errors["init_from"] = f"Run {run.pk} is {run.status}; only a finished (succeeded) run's weights can be used."
        return None
    if architecture and run.architecture != architecture:
        errors["init_from"] = (
            f"Run {run.pk} trained {run.architecture}; its weights cannot start a {architecture}."
        )
        return None
    for key in ("alpha", "minimalistic"):
        if key in options and run.options.get(key, options[key]) != options[key]:
            errors["init_from"] = (
                f"Run {run.pk} was trained with {key}={run.options.get(key)!r}; this run asks for "
                f"{key}={options[key]!r}, so the layers' shapes differ."
            )
            return None
    if not (run.folder / BEST_FILE).is_file():
        errors["init_from"] = f"Run {run.pk} has no best model file left ({BEST_FILE}); it cannot be fine-tuned."
        return None
    return run


def _weights_file_clean(value: Any, allow_any_path: bool, errors: dict[str, str]) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        errors["init_weights_file"] = "The initial weights file is a path."
        return ""
    path = Path(os.path.expanduser(value))
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        errors["init_weights_file"] = f"The initial weights file must be a Keras file ({' or '.join(WEIGHT_SUFFIXES)}); got {path.name!r}."
        return ""
    roots = [Path(p).resolve() for p in getattr(settings, "TRAINING_WEIGHTS_DIRS", [])]
    if not path.is_absolute() and roots:
        path = roots[0] / path
    path = path.resolve()
    if not allow_any_path and not any(path.is_relative_to(root) for root in roots):
        where = ", ".join(str(r) for r in roots) or "(none configured)"
        errors["init_weights_file"] = (
            f"Initial weights files must lie in the weights folder of this server ({where}; TRAINING_WEIGHTS_DIRS)."
        )
        return ""
    if not path.is_file():
        errors["init_weights_file"] = f"There is no file {path.name!r} there."
        return ""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        errors["init_weights_file"] = f"The file {path.name!r} cannot be read: {exc.strerror or exc}."
        return ""
    return str(path)


def run_params_clean(*, project: Project, params: dict, allow_any_weights_path: bool = False) -> dict:
    """Complete and check a run's settings; the cleaned values (model instances for the foreign keys).

    Raises ``ValidationError`` with one message per field at fault. ``allow_any_weights_path``
    lifts the ``TRAINING_WEIGHTS_DIRS`` rule for the command line.
    """
    errors: dict[str, str] = {}
    for key in params:
        if key not in FIELDS:
            errors[key] = f"Unknown setting {key!r}; a run takes {', '.join(FIELDS)}."
    given = {k: v for k, v in params.items() if v is not None and v != ""}
    values = {**DEFAULTS, **given}

    task = values.get("task")
    if task in (None, ""):
        errors["task"] = f"Choose a task: {', '.join(catalog.TASKS)}."
        task = None
    elif task not in catalog.TASKS:
        errors["task"] = f"Unknown task {task!r}; choose {' or '.join(catalog.TASKS)}."
        task = None

    architecture = catalog.ARCHITECTURES.get(values["architecture"])
    if architecture is None:
        errors["architecture"] = (
            f"Unknown architecture {values['architecture']!r}; choose {', '.join(catalog.ARCHITECTURES)}."
        )
    elif task and task not in architecture.tasks:
        errors["architecture"] = (
            f"{architecture.title} is offered for {', '.join(architecture.tasks)} only; for {task} choose "
            f"{' or '.join(catalog.architectures_for(task))}."
        )

    input_size = _whole(values["input_size"], -(10**9), 10**9)
    if input_size is None:
        errors["input_size"] = f"The input size is a whole number of pixels; got {values['input_size']!r}."
    elif architecture is not None and (problem := architecture.input_size_problem(input_size)):
        errors["input_size"] = problem
    epochs = _whole(values["epochs"], *EPOCHS)
    if epochs is None:
        errors["epochs"] = f"Epochs are a whole number in {EPOCHS[0]}..{EPOCHS[1]}; got {values['epochs']!r}."
    batch_size = _whole(values["batch_size"], *BATCH_SIZE)
    if batch_size is None:
        errors["batch_size"] = (
            f"The batch size is a whole number in {BATCH_SIZE[0]}..{BATCH_SIZE[1]}; got {values['batch_size']!r}."
        )
    learning_rate = _number(values["learning_rate"])
    if learning_rate is None or not 0 < learning_rate <= 1:
        errors["learning_rate"] = f"The learning rate is a number with 0 < rate ≤ 1; got {values['learning_rate']!r}."
    schedule = values["schedule"]
    if schedule not in catalog.SCHEDULES:
        errors["schedule"] = f"Unknown schedule {schedule!r}; choose {' or '.join(catalog.SCHEDULES)}."
    warmup = values.get("warmup_epochs")
    if warmup is None:
        warmup = default_warmup(epochs or 1)
    else:
        limit = (epochs or EPOCHS[1]) - 1
        checked = _whole(warmup, 0, max(limit, 0))
        if checked is None:
            errors["warmup_epochs"] = (
                f"Warm-up epochs are a whole number from 0 to one less than the epochs ({limit}); got {warmup!r}."
            )
        warmup = checked
    seed = _whole(values["seed"], 0, SEED_MAX)
    if seed is None:
        errors["seed"] = f"The seed is a whole number in 0..{SEED_MAX}; got {values['seed']!r}."

    options = _options_clean(params.get("options"), architecture, task, errors)
    version = _version_clean(project, params.get("version"), errors)
    if version is not None and task is not None:
        check = CHECKS[task](version, options)
        if check.problem:
            errors["version"] = check.problem
    recipe = _recipe_clean(project, params.get("recipe"), version, errors)
    init_from = _init_from_clean(
        project, params.get("init_from"), task, architecture.name if architecture else None, options, errors
    )
    weights = _weights_file_clean(params.get("init_weights_file"), allow_any_weights_path, errors)
    if init_from is not None and weights:
        errors["init_weights_file"] = "Start from an earlier run or from a weights file, not both."

    if errors:
        raise ValidationError(errors)
    assert architecture is not None and task is not None  # no errors: both were found
    return {
        "version": version, "task": task, "architecture": architecture.name, "input_size": input_size,
        "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "schedule": schedule,
        "warmup_epochs": warmup, "options": options, "recipe": recipe, "init_from": init_from,
        "init_weights_file": weights, "seed": seed,
    }
