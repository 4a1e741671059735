"""Synthetic data: the assets generators draw from, and the jobs that generate images.

Assets are stored content-addressed under ``MEDIA_ROOT/assets/`` like images are. A 3D model
marks keypoints with empties or vertex groups named after the label's ``keypoint_names`` (see
:mod:`synth.render_worker`); the names found at upload are kept in ``meta["keypoint_names"]``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Asset(models.Model):
    class Kind(models.TextChoices):
        MODEL3D = "model3d"  # glTF/GLB, OBJ, FBX or .blend, of one label class
        BACKGROUND = "background"  # an image to render or paste objects onto
        HDRI = "hdri"  # a Radiance .hdr or OpenEXR environment that lights the scene
        CUTOUT = "cutout"  # an RGBA image of one object (alpha = its mask), of one label class

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="synth_assets")
    kind = models.CharField(max_length=16, choices=Kind.choices, db_index=True)
    label = models.ForeignKey(
        "annotate.LabelClass", null=True, blank=True, on_delete=models.CASCADE, related_name="synth_assets",
        help_text="The class a model or cut-out shows; empty for backgrounds and HDRIs",
    )
    name = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=8, help_text="glb, gltf, obj, fbx, blend, png, jpg, hdr, exr, ...")
    sha256 = models.CharField(max_length=64)
    file = models.CharField(max_length=200, help_text="Path under MEDIA_ROOT")
    size_bytes = models.PositiveBigIntegerField()
    meta = models.JSONField(default=dict, blank=True, help_text="What the upload check found (meshes, keypoint names, size)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name or self.sha256[:12]}"


class SynthJob(models.Model):
    """One generation run: its spec, its job (aggregated progress) and its shards."""

    class Generator(models.TextChoices):
        BLENDER = "blender"
        CUTPASTE = "cutpaste"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="synth_jobs")
    generator = models.CharField(max_length=16, choices=Generator.choices)
    spec = models.JSONField(help_text="The cleaned spec; with the seed it determines every image")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="synth_job")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.generator} synth job #{self.pk}"


class SynthShard(models.Model):
    """A slice of a synth job's images, rendered by one task (one Blender process)."""

    synth_job = models.ForeignKey(SynthJob, on_delete=models.CASCADE, related_name="shards")
    number = models.PositiveIntegerField()
    start = models.PositiveIntegerField(help_text="Index of its first image")
    count = models.PositiveIntegerField()
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="synth_shard")
    image_ids = models.JSONField(default=list, blank=True, help_text="Images it stored, in order")
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["synth_job", "number"]
        constraints = [models.UniqueConstraint(fields=["synth_job", "number"], name="synth_shard_number_unique")]

    def __str__(self) -> str:
        return f"shard {self.number} of {self.synth_job}"
