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
