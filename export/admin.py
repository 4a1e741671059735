"""Exports in the admin: readable, never editable."""

from django.contrib import admin

from .models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "format", "with_images", "status", "size_bytes", "created_at"]
    list_filter = ["format", "status"]
    list_select_related = ["version__project"]
    readonly_fields = [f.name for f in Export._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
