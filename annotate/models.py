"""Projects, their members and label classes, images and annotations.

Geometry is stored as JSON in pixels of the stored image (origin top-left) and validated in one
place, :mod:`annotate.geometry`, by everything that writes it. An object with several geometries
(a person's box, mask and keypoints) is several annotations sharing a ``group`` number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from . import split_names


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="created_projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    VIEWER = "viewer"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["project", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class LabelClass(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#e6194b", help_text="#rrggbb")
    keypoint_names = models.JSONField(default=list, blank=True, help_text="For keypoint classes, in order")
    skeleton = models.JSONField(default=list, blank=True, help_text="Pairs of keypoint indexes (0-based)")
    keypoint_sigmas = models.JSONField(
        default=list, blank=True,
        help_text="OKS sigma per keypoint for keypoint evaluation; empty: COCO's for the 17 COCO names, 0.05 otherwise",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="label_name_unique_in_project")]
        ordering = ["project", "id"]
        verbose_name = "label class"
        verbose_name_plural = "label classes"

    def __str__(self) -> str:
        return self.name


class Split(models.TextChoices):
    TRAIN = split_names.TRAIN
    VAL = split_names.VAL
    TEST = split_names.TEST
    UNASSIGNED = split_names.UNASSIGNED


# The splits an image is placed in (all but unassigned), in order.
SPLITS = (Split.TRAIN, Split.VAL, Split.TEST)


class Image(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload"
        IMPORT = "import"
        SYNTHETIC = "synthetic"
        AUGMENTED = "augmented"

    class Status(models.TextChoices):
        NEW = "new"
        IN_PROGRESS = "in_progress"
        DONE = "done"
        REVIEWED = "reviewed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    # Content address: the stored file is media/images/<sha256[:2]>/<sha256>.<ext>.
    sha256 = models.CharField(max_length=64)
    file = models.CharField(max_length=200, help_text="Path under MEDIA_ROOT")
    mime_type = models.CharField(max_length=50)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    original_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD, db_index=True)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.UNASSIGNED, db_index=True)
    split_locked = models.BooleanField(default=False, help_text="Set by hand; automatic splitting leaves it alone")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW, db_index=True)
    phash = models.CharField(max_length=16, help_text="64-bit DCT perceptual hash, hex")
    meta = models.JSONField(default=dict, blank=True)
    revision = models.PositiveIntegerField(default=0, help_text="Bumped on every annotation save")
    review_comment = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Not unique: uploads de-duplicate by content in code, but a dataset import keeps one image per
        # dataset entry even when two entries are byte-identical files (the file is stored once).
        indexes = [
            models.Index(fields=["project", "split"]), models.Index(fields=["project", "status"]),
            models.Index(fields=["project", "sha256"], name="image_project_sha256"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name or self.sha256[:12]


class Annotation(models.Model):
    class Kind(models.TextChoices):
        TAG = "tag"
        BOX = "box"
        POLYGON = "polygon"
        MASK = "mask"
        KEYPOINTS = "keypoints"

    class Source(models.TextChoices):
        MANUAL = "manual"
        MODEL = "model"
        SYNTHETIC = "synthetic"
        IMPORTED = "imported"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="annotations")
    label = models.ForeignKey(LabelClass, on_delete=models.CASCADE, related_name="annotations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    geometry = models.JSONField(default=dict)
    attributes = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    score = models.FloatField(null=True, blank=True, help_text="Confidence, for model predictions")
    group = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Object id within the image: the annotations of one object (box, mask, keypoints) share it",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["image", "id"]
        indexes = [models.Index(fields=["label", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.label_id} on image {self.image_id}"
