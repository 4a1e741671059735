from django.urls import path

from . import import_api

urlpatterns = [
    path("projects/<int:project_id>/import", import_api.ProjectImportApi.as_view(), name="project-import"),
]
