"""Input shapes of the export API."""

from __future__ import annotations

from rest_framework import serializers


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.CharField()
    images = serializers.ChoiceField(choices=["0", "1", "true", "false"], default="1")
