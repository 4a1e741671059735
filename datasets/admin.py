"""Versions in the admin: readable, never editable (a built version is immutable)."""

from django.contrib import admin

from .models import DatasetVersion, VersionImage


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "number", "name", "status", "image_count", "annotation_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["project__name", "name", "content_hash"]
    list_select_related = ["project"]
    readonly_fields = [f.name for f in DatasetVersion._meta.fields]
    # No inline of the frozen images: a version may hold hundreds of thousands. They are listed,
    # paginated, by GET /api/versions/{id}/images/.

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VersionImage)
class VersionImageAdmin(admin.ModelAdmin):
    """The frozen images, searchable by version and file name; read-only like their version."""

    list_display = ["id", "version", "index", "file_name", "split", "source", "width", "height"]
    list_filter = ["split", "source"]
    search_fields = ["file_name", "sha256"]
    list_select_related = ["version"]
    raw_id_fields = ["version"]
    readonly_fields = [f.name for f in VersionImage._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
