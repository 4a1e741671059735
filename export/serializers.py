"""Input shapes of the export API."""

from __future__ import annotations

from rest_framework import serializers

from jobs.serializers import JobSerializer


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.CharField()
    images = serializers.ChoiceField(choices=["0", "1", "true", "false"], default="1")


class ExportRunningSerializer(serializers.Serializer):
    """409: the same export is already being prepared."""

    detail = serializers.CharField()
    job = JobSerializer(help_text="The job preparing it: follow it, then GET the export again")


class ExportFormatSerializer(serializers.Serializer):
    format = serializers.CharField()
    available = serializers.BooleanField(help_text="Whether the version can be written in this format")
    reason = serializers.CharField(help_text="Why not, when it cannot (else empty)")


class ExportFormatsSerializer(serializers.Serializer):
    """What the export of a version offers."""

    as_job = serializers.BooleanField(help_text="Exports of this version are prepared by a job: 202, follow it, GET again")
    job_min_images = serializers.IntegerField(help_text="Versions of this many images or more export as a job")
    formats = ExportFormatSerializer(many=True)
