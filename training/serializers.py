"""Input and output shapes of the training API.

The input serializer only reads types: the rules (ranges, what a version must hold, which
architecture serves which task...) live in :mod:`training.validation`, once, for the API, the
admin and the command alike.
"""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import Job
from jobs.serializers import JobSerializer

from . import catalog
from .models import ModelArtifact, RobustnessReport, TrainingRun
from .robustness import report_table


class TrainingOptionsSerializer(serializers.Serializer):
    """Documentation of ``options`` (the service checks them)."""

    alpha = serializers.FloatField(required=False, help_text="MobileNetV3 width multiplier, 0.25..1.5 (default 1.0)")
    minimalistic = serializers.BooleanField(required=False, help_text="MobileNetV3 minimalistic blocks (default false)")
    bn_momentum = serializers.CharField(required=False, help_text='Batch-norm momentum, 0..1 exclusive, or "auto"')
    class_weights = serializers.BooleanField(required=False, help_text="Weight the loss per class against imbalance")
    optimizer = serializers.ChoiceField(choices=["adam", "adamw"], required=False, help_text="adam (default) or adamw")
    weight_decay = serializers.FloatField(required=False, help_text="AdamW weight decay, 0..1")
    clipnorm = serializers.FloatField(required=False, help_text="Clip gradients to this norm (> 0)")
    dropout = serializers.FloatField(required=False, help_text="Dropout before the classification head, 0..0.95")
    min_lr_ratio = serializers.FloatField(required=False, help_text="Where the cosine ends, as a share of the rate")
    ema = serializers.FloatField(required=False, help_text="Decay of an exponential moving average of the weights, "
                                 "0..0.9999 (0 or absent: none); the average is validated and exported")


@extend_schema_field(TrainingOptionsSerializer)
class OptionsField(serializers.DictField):
    """A plain object, passed as it is to the service, which names any wrong option."""


class TrainingRunInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The dataset version to train on (ready, of this project)")
    task = serializers.CharField(help_text=f"{' or '.join(catalog.TASKS)}")
    architecture = serializers.CharField(required=False, help_text=f"One of {', '.join(catalog.ARCHITECTURES)} "
                                                                   "(default mobilenet_v3_small)")
    input_size = serializers.IntegerField(required=False, help_text="Square input in pixels, 32..1024 in steps of 32 (default 224)")
    epochs = serializers.IntegerField(required=False, help_text="1..1000 (default 30)")
    batch_size = serializers.IntegerField(required=False, help_text="1..1024 (default 32)")
    learning_rate = serializers.FloatField(required=False, help_text="0 < rate <= 1 (default 0.001)")
    schedule = serializers.CharField(required=False, help_text="cosine (with warm-up, the default) or constant")
    warmup_epochs = serializers.IntegerField(required=False, allow_null=True,
                                             help_text="Linear warm-up epochs (default: a fifth of the run, at most 3)")
    options = OptionsField(required=False)
    recipe = serializers.IntegerField(required=False, allow_null=True,
                                      help_text="An augmentation recipe of this project, applied online to train")
    init_from = serializers.IntegerField(required=False, allow_null=True,
                                         help_text="A finished run of the same task and architecture to fine-tune")
    init_weights_file = serializers.CharField(required=False, allow_blank=True,
                                              help_text="A .keras / .h5 file in the server's weights folder")
    seed = serializers.IntegerField(required=False)


class ArtifactSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text="The zip: model file, labels.txt, model_card.json")

    class Meta:
        model = ModelArtifact
        fields = ["id", "format", "variant", "status", "error", "size_bytes", "gzip_size_bytes", "sha256", "latency_ms",
                  "metrics", "download"]
        read_only_fields = fields

    def get_download(self, artifact: ModelArtifact) -> str | None:
        if artifact.status != ModelArtifact.Status.OK:
            return None
        return reverse("artifact-download", args=[artifact.pk])


class TrainingRunSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Job.Status.choices, read_only=True,
                                     help_text="The run's job's status")
    progress = serializers.FloatField(read_only=True, help_text="0..1")
    message = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    epochs_done = serializers.IntegerField(read_only=True)
    headline_metric = serializers.CharField(source="headline", read_only=True,
                                            help_text="The metric best epochs are chosen by (val_<metric>)")
    best_val_metric = serializers.FloatField(read_only=True, allow_null=True)
    init_weights_file = serializers.SerializerMethodField(help_text="The initial weights file's name")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    job = JobSerializer(read_only=True)
    url = serializers.SerializerMethodField(help_text="The run page")
    api_url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "project", "version", "task", "architecture", "input_size", "epochs", "batch_size",
            "learning_rate", "schedule", "warmup_epochs", "options", "recipe", "init_from", "init_weights_file",
            "seed", "labels", "status", "progress", "message", "error", "epochs_done", "best_epoch",
            "headline_metric", "best_val_metric", "metrics", "created_by", "created_at", "job", "url", "api_url",
        ]
        read_only_fields = fields

    def get_message(self, run: TrainingRun) -> str:
        return run.job.message if run.job else ""

    def get_error(self, run: TrainingRun) -> str:
        return run.job.error if run.job else ""

    def get_init_weights_file(self, run: TrainingRun) -> str:
        return Path(run.init_weights_file).name if run.init_weights_file else ""

    def get_url(self, run: TrainingRun) -> str:
        return reverse("training-run-page", args=[run.pk])

    def get_api_url(self, run: TrainingRun) -> str:
        return reverse("training-run-detail", args=[run.pk])


class TrainingRunDetailSerializer(TrainingRunSerializer):
    history = serializers.ListField(child=serializers.DictField(), read_only=True,
                                    help_text="One entry per finished epoch: epoch, loss, val_loss, val_<metric>, lr, seconds")
    artifacts = ArtifactSerializer(many=True, read_only=True)
    plots = serializers.SerializerMethodField(help_text="Figure name -> image URL (members only)")

    class Meta(TrainingRunSerializer.Meta):
        fields = TrainingRunSerializer.Meta.fields + ["history", "artifacts", "plots", "model_card"]
        read_only_fields = fields

    def get_plots(self, run: TrainingRun) -> dict[str, str]:
        return {name: reverse("training-run-plot", args=[run.pk, name]) for name in sorted(run.plots or {})}


class RobustnessInputSerializer(serializers.Serializer):
    variant = serializers.CharField(help_text='The exported file to score: "<format>-<variant>" of a .tflite or .onnx '
                                              'file of the run, e.g. tflite-int8, tflite-float32, onnx-float32')
    seed = serializers.IntegerField(required=False, default=0, help_text="Seed of the corruptions (default 0)")
    profiles = serializers.ListField(child=serializers.CharField(), required=False,
                                     help_text="Device profiles to apply (default: all; see /api/augment/profiles/)")
    severities = serializers.ListField(child=serializers.IntegerField(), required=False,
                                       help_text="Severities 1..5 to measure (default: all five)")


class RobustnessRowSerializer(serializers.Serializer):
    profile = serializers.CharField()
    name = serializers.CharField(help_text="The profile's title")
    metrics = serializers.ListField(child=serializers.FloatField(allow_null=True),
                                    help_text="The metric at severity 1..5 (null: not measured)")
    mean_metric = serializers.FloatField(allow_null=True)
    relative_corruption_error = serializers.FloatField(allow_null=True,
                                                       help_text="Mean share of the clean score lost")


class RobustnessReportSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Job.Status.choices, read_only=True, help_text="The report's job's status")
    progress = serializers.FloatField(read_only=True, help_text="0..1")
    message = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    table = serializers.SerializerMethodField(help_text="One row per profile: the metric by severity and the "
                                                        "relative corruption error (empty until it succeeded)")
    plot = serializers.SerializerMethodField(help_text="Metric vs severity, one line per profile (PNG URL)")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    job = JobSerializer(read_only=True)

    class Meta:
        model = RobustnessReport
        fields = ["id", "run", "variant", "seed", "profiles", "severities", "metric", "status", "progress", "message",
                  "error", "clean", "results", "summary", "table", "plot", "created_by", "created_at", "job"]
        read_only_fields = fields

    def to_representation(self, report: RobustnessReport) -> dict:
        data = super().to_representation(report)
        if report.status != Job.Status.SUCCEEDED:  # numbers count once the job has measured them all
            data.update(clean=None, results={}, summary={})
        return data

    def get_message(self, report: RobustnessReport) -> str:
        return report.job.message if report.job else ""

    def get_error(self, report: RobustnessReport) -> str:
        return report.job.error if report.job else ""

    @extend_schema_field(RobustnessRowSerializer(many=True))
    def get_table(self, report: RobustnessReport) -> list[dict]:
        return report_table(report)

    def get_plot(self, report: RobustnessReport) -> str | None:
        if not report.plot or report.status != Job.Status.SUCCEEDED:
            return None
        return reverse("training-run-robustness-plot", args=[report.run_id, report.pk])
