"""The recipe editor page: transforms from the catalogue with typed parameter fields, OneOf /
SomeOf groups, a probability per transform, validation by the API as you type and a live preview
grid on an image of the project. The page only calls the REST API (catalogue, validate, preview,
PUT recipe), so every rule and message is the API's."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from annotate.permissions import Can, role_allows
from annotate.selectors import labels_of

from . import selectors

PREVIEW_IMAGE_CHOICES = 200


@login_required
def recipe_edit_page(request, recipe_id: int):
    recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id)
    project = recipe.project
    images = list(project.images.order_by("id").values("id", "original_name", "split")[:PREVIEW_IMAGE_CHOICES])
    labels = {
        str(label.id): {"name": label.name, "color": label.color, "keypoint_names": label.keypoint_names,
                        "skeleton": label.skeleton}
        for label in labels_of(project=project)
    }
    config = {
        "recipeId": recipe.pk,
        "projectId": project.pk,
        "canSave": role_allows(recipe.user_role, Can.MANAGE),
        "recipe": {"name": recipe.name, "description": recipe.description, "spec": recipe.spec},
        "api": {
            "recipe": reverse("recipe-detail", args=[recipe.pk]),
            "transforms": reverse("augment-transform-list"),
            "validate": reverse("recipe-validate", args=[project.pk]),
            "preview": reverse("recipe-preview", args=[recipe.pk]),
        },
    }
    return render(request, "augment/recipe_edit.html", {
        "recipe": recipe, "project": project, "images": images, "labels": labels, "config": config,
    })
