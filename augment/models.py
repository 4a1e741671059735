"""Models of the augment app: a project's augmentation recipes.

A recipe is data (an albumentations 2.0.8 pipeline as JSON, see :mod:`augment.recipes`), validated
by the services before it is saved, so a stored spec always builds. ``profile`` records the
built-in device profile it was cloned from, if any (see :mod:`augment.profiles`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from annotate.models import Project


class Recipe(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="recipes")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    spec = models.JSONField(default=dict, help_text="albumentations pipeline as data; see augment.recipes")
    profile = models.CharField(max_length=50, blank=True, help_text="Device profile it was cloned from")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="recipe_name_unique_in_project")]
        ordering = ["project", "id"]

    def __str__(self) -> str:
        return self.name
