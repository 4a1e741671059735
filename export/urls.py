from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/versions/", views.version_list, name="version-list-page"),
    path("versions/<int:version_id>/", views.version_page, name="version-page"),
]
