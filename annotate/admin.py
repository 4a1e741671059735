from django.contrib import admin

from .models import Annotation, Image, LabelClass, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "created_by", "created_at"]
    search_fields = ["name", "description"]
    list_select_related = ["created_by"]
    inlines = [MembershipInline, LabelClassInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]
    list_select_related = ["project", "user"]


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "project", "color"]
    list_filter = ["project"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["id", "original_name", "project", "width", "height", "split", "split_locked", "status", "source", "revision"]
    list_filter = ["split", "status", "source", "split_locked", "project"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = ["sha256", "file", "mime_type", "size_bytes", "width", "height", "phash", "revision", "created_at", "updated_at"]
    list_select_related = ["project"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "image", "label", "kind", "source", "score", "created_by", "updated_at"]
    list_filter = ["kind", "source", "label__project"]
    search_fields = ["image__original_name", "label__name"]
    raw_id_fields = ["image"]
    list_select_related = ["image", "label", "created_by"]
