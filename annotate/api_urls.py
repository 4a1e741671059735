from django.urls import path

from . import api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="project-list-api"),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="project-detail-api"),
    path("projects/<int:project_id>/members/", api.MemberListApi.as_view(), name="member-list"),
    path("projects/<int:project_id>/members/<str:username>/", api.MemberDetailApi.as_view(), name="member-detail"),
    path("projects/<int:project_id>/labels/", api.LabelListApi.as_view(), name="label-list"),
    path("projects/<int:project_id>/labels/<int:label_id>/", api.LabelDetailApi.as_view(), name="label-detail"),
    path("projects/<int:project_id>/images/", api.ImageListApi.as_view(), name="image-list"),
    path("projects/<int:project_id>/images/zip", api.ImageZipUploadApi.as_view(), name="image-zip-upload"),
    path("projects/<int:project_id>/split", api.SplitApi.as_view(), name="project-split"),
    path("projects/<int:project_id>/health", api.HealthApi.as_view(), name="project-health"),
    path("images/<int:image_id>/", api.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file", api.ImageFileApi.as_view(), name="image-file"),
    path("images/<int:image_id>/thumbnail", api.ImageThumbnailApi.as_view(), name="image-thumbnail"),
    path("images/<int:image_id>/annotations", api.AnnotationsApi.as_view(), name="image-annotations"),
    path("images/<int:image_id>/review", api.ImageReviewApi.as_view(), name="image-review"),
]
