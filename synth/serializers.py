from rest_framework import serializers

from jobs.serializers import JobSerializer

from .assets import asset_max_bytes
from .models import Asset, SynthJob


class AssetSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Asset
        fields = ["id", "project", "kind", "label", "name", "format", "sha256", "size_bytes", "meta", "created_by", "created_at"]
        read_only_fields = fields


class AssetUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=Asset.Kind.choices)
    label = serializers.IntegerField(required=False, allow_null=True)

    def validate_file(self, upload):
        if upload.size > asset_max_bytes():
            raise serializers.ValidationError(f"The file is {upload.size:,} bytes; the limit is {asset_max_bytes():,}.")
        return upload


class SynthJobInputSerializer(serializers.Serializer):
    spec = serializers.JSONField(help_text="The generator spec; see the README for its fields")


class SynthJobSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True)
    progress = serializers.FloatField(source="job.progress", read_only=True)

    class Meta:
        model = SynthJob
        fields = ["id", "project", "generator", "spec", "status", "progress", "job", "created_by", "created_at"]
        read_only_fields = fields


class SynthJobDetailSerializer(SynthJobSerializer):
    shards = serializers.SerializerMethodField()
    first_image_ids = serializers.SerializerMethodField()

    class Meta(SynthJobSerializer.Meta):
        fields = SynthJobSerializer.Meta.fields + ["shards", "first_image_ids"]
        read_only_fields = fields

    def get_shards(self, synth_job) -> list[dict]:
        return [
            {"number": s.number, "start": s.start, "count": s.count, "job": s.job_id, "status": s.job.status,
             "progress": s.job.progress, "images": len(s.image_ids), "attempts": s.attempts, "error": s.job.error}
            for s in synth_job.shards.select_related("job").order_by("number")
        ]

    def get_first_image_ids(self, synth_job) -> list[int]:
        from .services import synth_job_images

        return synth_job_images(synth_job=synth_job, limit=self.context.get("first_images", 12))
