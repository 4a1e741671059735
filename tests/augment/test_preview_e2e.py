"""The preview page in a real browser: it asks the preview API for samples and draws them as a
grid with the annotations on top (browser tests share the fixtures of tests/e2e)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.models import Annotation
from augment.models import Recipe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_preview_grid_draws_samples_with_their_annotations(pages, users, project, labels, add_images):
    image = add_images(1, width=64, height=48)[0]
    Annotation.objects.create(image=image, label=labels["cat"], kind="box",
                              geometry={"x": 10.0, "y": 8.0, "w": 30.0, "h": 30.0})
    # Pixel-only recipe: the box stays where it is, so the drawn outline can be checked.
    recipe = Recipe.objects.create(project=project, name="noise", spec={"transforms": [
        {"name": "PoissonGaussianNoise", "params": {"exposure_range": [0.3, 0.5]}, "p": 1}]})
    page = pages.open(users["viewer"], f"/recipes/{recipe.pk}/preview/?count=6&seed=2", ready=False)
    grid = page.get_by_test_id("preview-grid")
    expect(grid.locator("figure[data-drawn='1']")).to_have_count(6)
    expect(page.locator("#preview-status")).to_contain_text("6 samples")
    seeds = grid.locator("figure").evaluate_all("figs => figs.map(f => f.dataset.seed)")
    assert len(set(seeds)) == 6
    # The box's left edge (x = 10) is stroked in the label's red on the first sample.
    red = page.evaluate("""() => {
        const c = document.querySelector('#preview-grid canvas');
        return Array.from(c.getContext('2d').getImageData(10, 20, 1, 1).data);
    }""")
    assert red[0] > 150 and red[1] < 110, red
    # Same seed, same samples; another seed, other samples.
    page.fill("input[name=seed]", "3")
    page.get_by_test_id("preview-run").click()
    expect(page.locator("#preview-status")).to_contain_text("seed 3")
    expect(grid.locator("figure[data-drawn='1']")).to_have_count(6)
    assert grid.locator("figure").evaluate_all("figs => figs.map(f => f.dataset.seed)") != seeds
    assert page.errors == []


def test_preview_shows_the_api_error(pages, users, project, add_images):
    add_images(1, width=64, height=48)
    recipe = Recipe.objects.create(project=project, name="crop", spec={"transforms": [
        {"name": "RandomCrop", "params": {"height": 500, "width": 500}, "p": 1}]})
    page = pages.open(users["owner"], f"/recipes/{recipe.pk}/preview/", ready=False)
    expect(page.locator("#preview-status")).to_contain_text("cannot be applied")


def test_cloning_a_profile_from_the_recipe_page(pages, users, project):
    page = pages.open(users["owner"], f"/projects/{project.pk}/recipes/", ready=False)
    page.get_by_test_id("clone-dashcam-motion").click()
    expect(page.get_by_test_id("recipe-list")).to_contain_text("Dashcam with motion")
    recipe = Recipe.objects.get(project=project)
    assert recipe.profile == "dashcam-motion"
    page.get_by_role("link", name="Preview").click()
    page.wait_for_url(f"**/recipes/{recipe.pk}/preview/")
    assert page.errors == []
