from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/versions/", views.version_list, name="version-list-page"),
]
