from django.contrib import admin

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "progress", "message", "project", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "kind", "created_at"]
    search_fields = ["kind", "message", "error", "celery_task_id"]
    readonly_fields = ["created_at", "started_at", "heartbeat_at", "finished_at", "celery_task_id", "worker"]
    list_select_related = ["project", "created_by"]

    # Read-only: only the jobs app writes a job's status (DESIGN.md §2); cancel through the API.
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
