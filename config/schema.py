"""OpenAPI shapes every app shares (documentation only: no view serializes through them)."""

from __future__ import annotations

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The error body of a refused request that is not about one field (409, 412, 428...)."""

    detail = serializers.CharField(help_text="What went wrong, as a sentence")
