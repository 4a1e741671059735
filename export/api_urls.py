from django.urls import path

from . import api, import_api

urlpatterns = [
    path("versions/<int:version_id>/export", api.VersionExportApi.as_view(), name="version-export"),
    path("versions/<int:version_id>/export/formats", api.VersionExportFormatsApi.as_view(), name="version-export-formats"),
    path("projects/<int:project_id>/import", import_api.ProjectImportApi.as_view(), name="project-import"),
]
