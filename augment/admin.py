from django.contrib import admin

from .models import Recipe


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "profile", "created_by", "updated_at"]
    list_filter = ["profile"]
    search_fields = ["name", "project__name"]
    raw_id_fields = ["project", "created_by"]
