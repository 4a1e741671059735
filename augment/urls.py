from django.urls import path

from . import editor_views, views

urlpatterns = [
    path("projects/<int:project_id>/recipes/", views.recipe_list_page, name="recipe-list-page"),
    path("recipes/<int:recipe_id>/preview/", views.recipe_preview_page, name="recipe-preview-page"),
    path("recipes/<int:recipe_id>/edit/", editor_views.recipe_edit_page, name="recipe-edit-page"),
]
