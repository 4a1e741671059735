"""Dataset versions: frozen snapshots of a project that exports and training read.

A version copies everything it needs at build time: the label classes (names, keypoints,
skeleton), and per image the stored file, its size after preprocessing, its split and its
annotations with label *names*. Later edits in the project (renamed labels, moved boxes, deleted
images) therefore never change a built version, and neither do the exports made from it.
A version is immutable once it is ready: ``save`` refuses changes, and its image rows may only be
written while it is building.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class VersionImmutable(Exception):
    """Changing a version (or its frozen rows) after it was built."""


class DatasetVersion(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3... per project")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What was asked for, recorded so a version can be understood (and rebuilt) later:
    # image_sources, annotation_sources, include_unannotated, split (mode, ratios, seed),
    # preprocessing (auto_orient, resize), and whatever later pipeline steps read (e.g. augment).
    params = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=list, blank=True, help_text="Frozen label classes, in category order")
    counts = models.JSONField(default=dict, blank=True, help_text="Images per split, objects per split and class")
    image_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, help_text="sha256 over labels, files, splits, annotations")
    # What was precomputed per image at build time, by writer: e.g. {"coco": 1} when every row's
    # ``coco`` holds its COCO annotation entries in revision 1 of that writer's form.
    materialized = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-number"]
        # The tables keep the names they had when versions lived in the export app.
        db_table = "export_datasetversion"
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="version_number_unique_in_project")]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}" + (f" ({self.name})" if self.name else "")

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            stored = DatasetVersion.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored in (self.Status.READY, self.Status.FAILED):
                raise VersionImmutable(f"Version {self.number} is {stored}; a built version cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def label_names(self) -> list[str]:
        return [label["name"] for label in self.labels]


class VersionImage(models.Model):
    """One image of a version as it was frozen: file, size after preprocessing, split, annotations.

    ``annotations`` is a list of ``{"label": name, "kind", "geometry", "attributes", "source"}``
    with geometry in pixels of *this* file (after any resize).
    """

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveIntegerField(help_text="Position in the version, from 0")
    source_image_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The project image it came from")
    file = models.CharField(max_length=200, help_text="Path under MEDIA_ROOT, owned by the version")
    sha256 = models.CharField(max_length=64)
    mime_type = models.CharField(max_length=50)
    file_name = models.CharField(max_length=255, help_text="Unique name (and stem) in the version, for exports")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    split = models.CharField(max_length=16, db_index=True)
    source = models.CharField(max_length=16, help_text="upload / import / synthetic / augmented")
    annotations = models.JSONField(default=list)
    object_offset = models.PositiveIntegerField(
        default=0, help_text="Objects (non-tag annotations) in the version before this image: global object ids"
    )
    # Per-image text precomputed at build by registered materializers (datasets.pipeline), by name.
    MATERIALIZED_COLUMNS = ("coco", "yolo")
    coco = models.TextField(blank=True, help_text="This image's COCO annotation entries, made once at build")
    yolo = models.TextField(blank=True, help_text="This image's YOLO label-file text, made once at build")
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "index"]
        db_table = "export_versionimage"
        constraints = [
            models.UniqueConstraint(fields=["version", "index"], name="version_image_index_unique"),
            models.UniqueConstraint(fields=["version", "file_name"], name="version_image_name_unique"),
        ]
        indexes = [models.Index(fields=["version", "split", "index"], name="export_vers_version_77da2f_idx")]

    def __str__(self) -> str:
        return self.file_name

    def save(self, *args, **kwargs) -> None:
        status = DatasetVersion.objects.filter(pk=self.version_id).values_list("status", flat=True).first()
        if status != DatasetVersion.Status.BUILDING:
            raise VersionImmutable("The images of a built version cannot be changed.")
        super().save(*args, **kwargs)
