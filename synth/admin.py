"""Synthetic data in the admin: assets and synth jobs to look at, not to edit (assets are checked
and stored by the upload service; a synth job's spec is cleaned when it starts and fixes its images)."""

from django.contrib import admin

from .models import Asset, SynthJob, SynthShard


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "name", "format", "project", "label", "size_bytes", "created_by", "created_at"]
    list_filter = ["kind", "format"]
    search_fields = ["name", "sha256", "project__name"]
    list_select_related = ["project", "label", "created_by"]


class SynthShardInline(admin.TabularInline):
    model = SynthShard
    extra = 0
    fields = ["number", "start", "count", "job", "attempts"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SynthJob)
class SynthJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "generator", "project", "job", "created_by", "created_at"]
    list_filter = ["generator"]
    search_fields = ["project__name"]
    list_select_related = ["project", "job", "created_by"]
    inlines = [SynthShardInline]


@admin.register(SynthShard)
class SynthShardAdmin(ReadOnlyAdmin):
    list_display = ["id", "synth_job", "number", "start", "count", "job", "attempts"]
    list_select_related = ["synth_job", "job"]
