from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/training-runs/", views.run_list_page, name="training-run-list-page"),
    path("training-runs/<int:run_id>/", views.run_page, name="training-run-page"),
]
