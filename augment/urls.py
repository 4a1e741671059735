from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:project_id>/recipes/", views.recipe_list_page, name="recipe-list-page"),
    path("recipes/<int:recipe_id>/preview/", views.recipe_preview_page, name="recipe-preview-page"),
]
