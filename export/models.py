"""Exports of dataset versions: a finished (or running) archive per version, format and images flag."""

from __future__ import annotations

from django.db import models


class Export(models.Model):
    """A finished (or running) export of a version in one format, cached as a zip file."""

    class Status(models.TextChoices):
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16)
    with_images = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    path = models.CharField(max_length=300, blank=True, help_text="The zip, under DATA_DIR")
    size_bytes = models.PositiveBigIntegerField(default=0)
    etag = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["version", "format", "with_images"], name="one_export_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.format}{'' if self.with_images else ' (no images)'}"
