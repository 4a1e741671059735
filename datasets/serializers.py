"""Input and output shapes of the dataset-version API."""

from __future__ import annotations

from rest_framework import serializers

from annotate.serializers import split_ratio_field
from jobs.serializers import JobSerializer

from .models import DatasetVersion, VersionImage


class SplitSpecSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["project", "ratios"], default="project",
                                   help_text="project: keep the images' splits (unassigned ones placed by the "
                                             "ratios); ratios: place every image by the ratios and seed")
    train = split_ratio_field(0.7)
    val = split_ratio_field(0.2)
    test = split_ratio_field(0.1)
    seed = serializers.IntegerField(default=0)


class ResizeSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["stretch", "letterbox"])
    width = serializers.IntegerField(min_value=1, max_value=8192)
    height = serializers.IntegerField(min_value=1, max_value=8192)


class PreprocessingSerializer(serializers.Serializer):
    resize = ResizeSerializer(required=False, allow_null=True)


class VersionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    image_sources = serializers.ListField(child=serializers.CharField(), required=False)
    annotation_sources = serializers.ListField(child=serializers.CharField(), required=False)
    include_unannotated = serializers.BooleanField(default=True)
    split = SplitSpecSerializer(required=False)
    preprocessing = PreprocessingSerializer(required=False)
    augment = serializers.DictField(
        required=False,
        help_text='Augmented copies of the train split: {"recipe": <recipe id>, "copies": 1..50, "seed": 0}',
    )


class VersionJobSerializer(JobSerializer):
    """The answer to a version build request: the build's job, and the version it fills."""

    version = serializers.IntegerField(help_text="The id of the version being built")
    version_url = serializers.CharField(help_text="Where the version is (also the Location header)")

    class Meta(JobSerializer.Meta):
        fields = JobSerializer.Meta.fields + ["version", "version_url"]
        read_only_fields = fields


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    job = JobSerializer(read_only=True)

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "project", "number", "name", "status", "params", "labels", "counts", "image_count",
            "annotation_count", "content_hash", "error", "created_by", "created_at", "built_at", "job",
        ]
        read_only_fields = fields


class VersionImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = VersionImage
        fields = ["index", "file_name", "sha256", "width", "height", "split", "source", "source_image_id",
                  "annotations"]
        read_only_fields = fields
