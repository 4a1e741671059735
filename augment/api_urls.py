from django.urls import path

from . import api

urlpatterns = [
    path("augment/profiles/", api.ProfileListApi.as_view(), name="augment-profile-list"),
    path("augment/profiles/<slug:slug>/", api.ProfileDetailApi.as_view(), name="augment-profile-detail"),
    path("augment/transforms/", api.TransformListApi.as_view(), name="augment-transform-list"),
    path("projects/<int:project_id>/recipes/", api.RecipeListApi.as_view(), name="recipe-list"),
    path("projects/<int:project_id>/recipes/from-profile", api.RecipeFromProfileApi.as_view(), name="recipe-from-profile"),
    path("projects/<int:project_id>/corruptions", api.CorruptionApi.as_view(), name="corruption-build"),
    path(
        "projects/<int:project_id>/corruptions/<slug:profile>/<int:severity>/<slug:split>/<int:seed>/",
        api.CorruptionManifestApi.as_view(), name="corruption-manifest",
    ),
    path(
        "projects/<int:project_id>/corruptions/<slug:profile>/<int:severity>/<slug:split>/<int:seed>/images/<int:image_id>",
        api.CorruptionImageApi.as_view(), name="corruption-image",
    ),
    path("recipes/<int:recipe_id>/", api.RecipeDetailApi.as_view(), name="recipe-detail"),
    path("recipes/<int:recipe_id>/preview", api.RecipePreviewApi.as_view(), name="recipe-preview"),
    path("projects/<int:project_id>/recipes/validate", api.RecipeValidateApi.as_view(), name="recipe-validate"),
]
