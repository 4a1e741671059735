"""HTML pages of the augment app: a recipe's preview grid. Data comes from the same selectors as
the API, and the samples from the preview API itself, so the page shows what the API returns."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotate.selectors import labels_of

from . import selectors

PREVIEW_IMAGE_CHOICES = 200


@login_required
def recipe_preview_page(request, recipe_id: int):
    recipe = selectors.recipe_get_for_user(user=request.user, recipe_id=recipe_id)
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
