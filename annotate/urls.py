from django.urls import path

from . import health_views, intake_views, project_pages, views

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/images/<int:image_id>/label", views.image_label, name="image-label"),
    path("projects/<int:project_id>/settings/", project_pages.project_settings, name="project-settings-page"),
    path("projects/<int:project_id>/members/", project_pages.project_members, name="member-list-page"),
    path("projects/<int:project_id>/labels/", project_pages.project_labels, name="label-list-page"),
    path("projects/<int:project_id>/health/", health_views.project_health_page, name="project-health-page"),
    path("projects/<int:project_id>/upload/", intake_views.upload_page, name="upload-page"),
    path("projects/<int:project_id>/import/", intake_views.import_page, name="import-page"),
    path("projects/<int:project_id>/jobs/", intake_views.jobs_page, name="project-jobs-page"),
]
