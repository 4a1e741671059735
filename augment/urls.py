from django.urls import path

from . import views

urlpatterns = [
    path("recipes/<int:recipe_id>/preview/", views.recipe_preview_page, name="recipe-preview-page"),
]
