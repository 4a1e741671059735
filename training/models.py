"""Training runs and the model files they export.

A :class:`TrainingRun` records what was asked (dataset version, task, architecture, the
hyperparameters, the online recipe, the initial weights) and what came out while it trained:
the per-epoch ``history`` (stored as each epoch ends, so the admin, the API and the run page
show it live), the best epoch, the Keras model's test ``metrics``, the ``plots`` the training
process drew and its ``model_card``. Each exported file is a :class:`ModelArtifact` with its size,
hash, latency and the task metric measured by running that file. A run's status is its job's.

The files live in the run folder, ``TRAINING_DIR/<run id>/`` (:mod:`training.protocol`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models

from .catalog import headline_metric


class JobFollowed:
    """A row whose status and progress are its ``job``'s ("queued" until it has one)."""

    job_id: int | None
    job: Any

    @property
    def status(self) -> str:
        return self.job.status if self.job_id and self.job else "queued"

    @property
    def progress(self) -> float:
        return self.job.progress if self.job_id and self.job else 0.0


class TrainingRun(JobFollowed, models.Model):
    class Task(models.TextChoices):
        CLASSIFY = "classify"
        DETECT = "detect"
        KEYPOINTS = "keypoints"
        SEGMENT = "segment"

    class Schedule(models.TextChoices):
        COSINE = "cosine", "cosine (with warm-up)"
        CONSTANT = "constant"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="training_runs")
    # A deleted version leaves its runs (and their models) in place; the model card keeps its id and hash.
    version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs"
    )
    task = models.CharField(max_length=16, choices=Task.choices)
    architecture = models.CharField(max_length=64)
    input_size = models.PositiveIntegerField(help_text="Square input, pixels")
    epochs = models.PositiveIntegerField()
    batch_size = models.PositiveIntegerField()
    learning_rate = models.FloatField()
    schedule = models.CharField(max_length=16, choices=Schedule.choices, default=Schedule.COSINE)
    warmup_epochs = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=dict, blank=True, help_text="alpha, minimalistic, bn_momentum, class_weights")
    recipe = models.ForeignKey(
        "augment.Recipe", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_runs",
        help_text="Online augmentation of the train split",
    )
    init_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fine_tuned_runs",
        help_text="An earlier run of the same task whose best model this one starts from",
    )
    init_weights_file = models.CharField(max_length=1000, blank=True, help_text="A local .keras / .h5 file to start from")
    seed = models.PositiveIntegerField(default=0)
    labels = models.JSONField(default=list, blank=True, help_text="Class names in output order (set when it starts)")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    history = models.JSONField(default=list, blank=True, help_text="One entry per finished epoch")
    best_epoch = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="The Keras model's metrics on the test split")
    plots = models.JSONField(default=dict, blank=True, help_text="Figure name -> path in the run folder")
    model_card = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk} · {self.task} {self.architecture}"

    @property
    def folder(self) -> Path:
        return Path(settings.TRAINING_DIR) / str(self.pk)

    @property
    def epochs_done(self) -> int:
        return len(self.history or [])

    @property
    def headline(self) -> str:
        """The metric best epochs are chosen by (``val_<headline>``) and tables lead with."""
        return headline_metric(self.task)

    @property
    def best_val_metric(self) -> float | None:
        """The validation headline metric of the best epoch (the best so far while it runs)."""
        key = f"val_{self.headline}"
        values = [e for e in self.history or [] if isinstance(e.get(key), (int, float))]
        if not values:
            return None
        if self.best_epoch:
            for entry in values:
                if entry.get("epoch") == self.best_epoch:
                    return float(entry[key])
        return float(max(e[key] for e in values))


class ModelArtifact(models.Model):
    class Format(models.TextChoices):
        KERAS = "keras"
        SAVED_MODEL = "saved_model"
        TFLITE = "tflite"
        ONNX = "onnx"
        COREML = "coreml"

    class Variant(models.TextChoices):
        FLOAT32 = "float32"
        FLOAT16 = "float16"
        DYNAMIC_INT8 = "dynamic_int8"
        INT8 = "int8"

    class Status(models.TextChoices):
        OK = "ok"
        FAILED = "failed"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="artifacts")
    format = models.CharField(max_length=16, choices=Format.choices)
    variant = models.CharField(max_length=16, choices=Variant.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="Relative to the run folder")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    gzip_size_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The file gzip-compressed (level 9): what pruned zeros save in an app download"
    )
    sha256 = models.CharField(max_length=64, blank=True)
    latency_ms = models.JSONField(default=dict, blank=True, help_text='Median ms per image by threads: {"1": .., "2": ..}')
    metrics = models.JSONField(default=dict, blank=True, help_text="The task metrics of this very file on the test split")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "format", "variant"], name="artifact_unique_variant_in_run"),
        ]

    def __str__(self) -> str:
        return f"{self.format} {self.variant} of run {self.run_id}"

    @property
    def file_path(self) -> Path:
        return Path(settings.TRAINING_DIR) / str(self.run_id) / self.path


class RobustnessReport(JobFollowed, models.Model):
    """How one exported file of a finished run holds up on its version's test split corrupted by
    each device profile of :mod:`augment.profiles` at severities 1-5 (ImageNet-C style; see
    :mod:`training.robustness`). Its status is its job's; ``results`` and ``summary`` are written
    once, together, when the job has measured everything (never half)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="robustness_reports")
    variant = models.CharField(max_length=40, help_text='The exported file: "<format>-<variant>", e.g. tflite-int8')
    seed = models.PositiveIntegerField(default=0, help_text="Seed of the corruptions (same seed, same pixels)")
    profiles = models.JSONField(default=list, help_text="Device profiles measured (slugs)")
    severities = models.JSONField(default=list, help_text="Severities measured (1..5)")
    metric = models.CharField(max_length=32, blank=True, help_text="The task's headline metric")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    clean = models.FloatField(null=True, blank=True, help_text="The metric of this file on the uncorrupted test split")
    results = models.JSONField(
        default=dict, blank=True,
        help_text="Profile -> [metric at severity 1, ..., 5] (null where a severity was not measured)",
    )
    summary = models.JSONField(default=dict, blank=True, help_text="Per profile and overall: mean metric, mean and "
                                                                    "relative corruption error")
    plot = models.CharField(max_length=500, blank=True, help_text="Metric vs severity (PNG), relative to the run folder")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Robustness of {self.variant} of run {self.run_id}"

    @property
    def folder(self) -> Path:
        """Its files (the evaluation request, the plot) inside the run folder."""
        return self.run.folder / "robustness" / str(self.pk)
