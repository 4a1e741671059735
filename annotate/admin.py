from django import forms
from django.contrib import admin

from . import services
from .keypoints import oks_sigmas
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


class LabelClassForm(forms.ModelForm):
    """The API's keypoint rules (names, skeleton, sigmas) on the admin form too."""

    class Meta:
        model = LabelClass
        fields = ["project", "name", "color", "keypoint_names", "skeleton", "keypoint_sigmas"]

    def clean(self) -> dict:
        data = super().clean()
        names = data.get("keypoint_names") or []
        services.check_keypoints(names, data.get("skeleton") or [])
        services.check_sigmas(names, data.get("keypoint_sigmas") or [])
        return data


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    form = LabelClassForm
    list_display = ["id", "name", "project", "color", "evaluated_sigmas"]
    list_filter = ["project"]
    search_fields = ["name", "project__name"]
    list_select_related = ["project"]

    @admin.display(description="OKS sigmas used")
    def evaluated_sigmas(self, label: LabelClass) -> str:
        return ", ".join(f"{v:g}" for v in oks_sigmas(label.keypoint_names or [], label.keypoint_sigmas)) or "—"


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
