"""Versions in the admin: readable, never editable (a built version is immutable)."""

from django.contrib import admin

from .models import DatasetVersion, Export, VersionImage


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class VersionImageInline(admin.TabularInline):
    """Shown on a version's page (large versions: use the API's /versions/{id}/images/)."""

    model = VersionImage
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False
    fields = ["index", "file_name", "split", "width", "height", "source"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DatasetVersion)
class DatasetVersionAdmin(_ReadOnly):
    list_display = ["id", "project", "number", "name", "status", "image_count", "annotation_count", "created_at"]
    list_filter = ["status"]
    search_fields = ["project__name", "name", "content_hash"]
    list_select_related = ["project"]
    readonly_fields = [f.name for f in DatasetVersion._meta.fields]
    inlines = [VersionImageInline]


@admin.register(Export)
class ExportAdmin(_ReadOnly):
    list_display = ["id", "version", "format", "with_images", "status", "size_bytes", "created_at"]
    list_filter = ["format", "status"]
    list_select_related = ["version__project"]
    readonly_fields = [f.name for f in Export._meta.fields]
