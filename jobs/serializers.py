from rest_framework import serializers

from .models import Job


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "kind", "status", "progress", "message", "log", "params", "result", "error",
            "created_by", "project", "cancel_requested", "created_at", "started_at",
            "heartbeat_at", "finished_at",
        ]
        read_only_fields = fields
