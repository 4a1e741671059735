from __future__ import annotations

from rest_framework import serializers

from .models import Job


def _file_name(value: object) -> object:
    return value.replace("\\", "/").rsplit("/", 1)[-1] if isinstance(value, str) else value


def public_params(params: dict) -> dict:
    """A job's ``params`` (or ``result``) as the API shows them: a file path is reduced to the file's name.

    Jobs keep where their files lie on the server (a spooled upload, an exported model) in their
    params and results, and every member of the project reads the job; where the server keeps its files is
    none of theirs. The rule is by key, at any depth: ``path`` or ``*_path`` (a string), and
    ``paths`` or ``*_paths`` (a list of them). Name new params that hold a path so.
    """
    shown = {}
    for key, value in params.items():
        if key == "path" or key.endswith("_path"):
            shown[key] = _file_name(value)
        elif (key == "paths" or key.endswith("_paths")) and isinstance(value, list):
            shown[key] = [_file_name(item) for item in value]
        else:
            shown[key] = _public(value)
    return shown


def _public(value: object) -> object:
    if isinstance(value, dict):
        return public_params(value)
    if isinstance(value, list):
        return [_public(item) for item in value]
    return value


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    params = serializers.SerializerMethodField(help_text="What the job was asked to do; file paths show as file names")
    result = serializers.SerializerMethodField(help_text="What the job made; file paths show as file names")

    class Meta:
        model = Job
        fields = [
            "id", "kind", "status", "progress", "message", "log", "params", "result", "error",
            "created_by", "project", "cancel_requested", "created_at", "started_at",
            "heartbeat_at", "finished_at",
        ]
        read_only_fields = fields

    def get_params(self, job: Job) -> dict:
        return public_params(job.params) if isinstance(job.params, dict) else {}

    def get_result(self, job: Job) -> dict | None:
        return public_params(job.result) if isinstance(job.result, dict) else job.result
