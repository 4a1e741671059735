from django.urls import path

from . import api

urlpatterns = [
    path("projects/<int:project_id>/versions/", api.VersionListApi.as_view(), name="version-list"),
    path("versions/<int:version_id>/", api.VersionDetailApi.as_view(), name="version-detail"),
    path("versions/<int:version_id>/images/", api.VersionImageListApi.as_view(), name="version-images"),
    path("versions/<int:version_id>/images/<int:index>/file", api.VersionImageFileApi.as_view(), name="version-image-file"),
]
