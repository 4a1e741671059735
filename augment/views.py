"""HTML pages of the augment app: a project's recipes with the device profiles, and a recipe's
preview grid. Data comes from the same selectors as
the API, and the samples from the preview API itself, so the page shows what the API returns."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.access import access_project_by_id
from annotate.permissions import Can, role_allows
from annotate.selectors import labels_of

from . import selectors
from .profiles import PROFILES

PREVIEW_IMAGE_CHOICES = 200


@login_required
def recipe_preview_page(request, recipe_id: int):
    recipe = selectors.access_recipe_by_id(user=request.user, recipe_id=recipe_id)
    images = list(recipe.project.images.order_by("id").values("id", "original_name", "split")[:PREVIEW_IMAGE_CHOICES])
    labels = {
        str(label.id): {"name": label.name, "color": label.color, "keypoint_names": label.keypoint_names,
                        "skeleton": label.skeleton}
        for label in labels_of(project=recipe.project)
    }
    selected = request.GET.get("image")
    return render(request, "augment/preview.html", {
        "recipe": recipe,
        "project": recipe.project,
        "recipes": selectors.recipes_of(project=recipe.project),
        "images": images,
        "selected_image": int(selected) if selected and selected.isdigit() else (images[0]["id"] if images else None),
        "count": request.GET.get("count", "8"),
        "seed": request.GET.get("seed", "0"),
        "labels": labels,
    })


@login_required
def recipe_list_page(request, project_id: int):
    """The project's recipes, and the built-in device profiles (documented) to clone from."""
    project = access_project_by_id(user=request.user, project_id=project_id)
    return render(request, "augment/recipe_list.html", {
        "project": project,
        "recipes": selectors.recipes_of(project=project),
        "profiles": [profile.as_dict() for profile in PROFILES.values()],
        "can_manage": role_allows(project.user_role, Can.MANAGE),
    })
