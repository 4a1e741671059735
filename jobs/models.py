"""One model for every piece of background work: its status, progress, log and result."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=64, db_index=True, help_text="What the job does, e.g. images.upload_zip")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0..1")
    message = models.CharField(max_length=500, blank=True, help_text="What it is doing now, for people")
    log = models.TextField(blank=True, help_text="The last lines it logged")
    params = models.JSONField(default=dict, blank=True, help_text="Inputs, so a job can be understood and re-run")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # Jobs that belong to a project are visible to its members; the relation is by name so the
    # jobs app imports nothing from the apps that use it.
    project = models.ForeignKey(
        "annotate.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    celery_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # A job made of other jobs (a synth job of its shards): the parent is never run by a worker,
    # it mirrors its children (jobs.services.job_group_sync); ``weight`` is a child's share of it.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
        help_text="The job this one is a part of",
    )
    weight = models.FloatField(default=1.0, help_text="This job's share of its parent's progress")
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker started it")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL
