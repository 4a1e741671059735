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
from .models import ModelArtifact, TrainingRun


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
