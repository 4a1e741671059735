from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/synth/", views.synth_page, name="synth-page"),
]
