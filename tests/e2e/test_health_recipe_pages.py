"""The "Splits and health" page and the recipe editor in a real browser: both only call the API,
so what they show (counts, leaks, field messages) is what the API answers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.imaging import check_image_bytes
from annotate.models import Annotation, Image
from annotate.uploads import images_store_checked
from augment.models import Recipe
from tests.conftest import image_bytes, set_split, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_split_dialog_shows_the_counts_before_applying(pages, users, project, add_images):
    add_images(10)
    page = pages.open(users["owner"], f"/projects/{project.pk}/health/", ready=False)
    page.get_by_test_id("split-open").click()
    preview = page.get_by_test_id("split-preview")
    expect(preview).to_contain_text("This moves 10 images")
    page.get_by_test_id("split-train").fill("0.5")  # 0.5 + 0.15 + 0.15
    expect(page.get_by_test_id("split-error")).to_contain_text("add up to 1")  # the API's sentence
    expect(page.get_by_test_id("split-apply")).to_be_disabled()
    page.get_by_test_id("split-val").fill("0.3")
    page.get_by_test_id("split-test").fill("0.2")
    expect(page.get_by_test_id("split-error")).to_have_text("")
    expect(preview.locator("[data-split=unassigned]")).to_have_text("unassigned 0")
    counts = {s: int(preview.locator(f"[data-split={s}]").inner_text().split()[-1]) for s in ("train", "val", "test")}
    assert sum(counts.values()) == 10
    assert Image.objects.filter(project=project, split="unassigned").count() == 10  # a dry run saves nothing
    page.get_by_test_id("split-apply").click()
    expect(page.get_by_test_id("split-dialog")).not_to_be_visible()
    wait_for(lambda: Image.objects.filter(project=project, split="unassigned").count() == 0, timeout=10)
    saved = {s: Image.objects.filter(project=project, split=s).count() for s in ("train", "val", "test")}
    assert saved == counts
    table = page.get_by_test_id("health-table")
    expect(table.locator("[data-row=images] [data-split=train]")).to_have_text(str(counts["train"]))
    assert page.errors == []


def test_leak_pair_as_thumbnails_and_one_click_move(pages, users, project, labels, add_images):
    one = image_bytes(96, 72, seed=7, quality=95)
    again = image_bytes(96, 72, seed=7, quality=60)  # the same picture re-encoded: another file, same hash
    a, b = images_store_checked(project=project, user=users["owner"], source="upload", checked=[
        ("a.jpg", check_image_bytes(one)), ("b.jpg", check_image_bytes(again))]).created
    set_split([a], "train")
    set_split([b], "test")
    broken = Annotation.objects.create(image=a, label=labels["cat"], kind="box",
                                       geometry={"x": 500.0, "y": 8.0, "w": 30.0, "h": 30.0})
    page = pages.open(users["annotator"], f"/projects/{project.pk}/health/", ready=False)
    expect(page.get_by_test_id("split-open")).to_have_count(0)  # splitting is for owners
    pair = page.get_by_test_id("leak-pair")
    expect(pair).to_have_count(1)
    thumbs = pair.locator("img")
    expect(thumbs).to_have_count(2)
    assert sorted(thumbs.evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")) == sorted(
        f"/api/images/{i.pk}/thumbnail?size=256" for i in (a, b))
    wait_for(lambda: thumbs.evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"), timeout=10)
    expect(pair).to_contain_text("distance")
    # The invalid annotation links to the labeling page of its image.
    invalid = page.get_by_test_id("invalid-list").locator(f"[data-annotation='{broken.pk}'] a")
    expect(invalid).to_have_attribute("href", f"/projects/{project.pk}/images/{a.pk}/label")
    expect(page.get_by_test_id("unannotated-list").locator(f"a[data-image='{b.pk}']")).to_have_count(1)
    # One click: b joins a's split, the leak is gone.
    page.get_by_test_id(f"move-{b.pk}").click()
    expect(page.get_by_test_id("leak-pair")).to_have_count(0)
    expect(page.get_by_test_id("leak-count")).to_have_text("0")
    b.refresh_from_db()
    assert b.split == "train" and b.split_locked
    invalid.click()
    page.wait_for_url(f"**/projects/{project.pk}/images/{a.pk}/label")
    assert page.errors == []


def test_recipe_editor_add_reorder_validate_save_preview(pages, users, project, add_images):
    add_images(2, width=64, height=48)
    page = pages.open(users["owner"], f"/projects/{project.pk}/recipes/", ready=False)
    page.get_by_test_id("new-recipe-name").fill("Night shift")
    page.get_by_test_id("new-recipe").click()
    recipe = wait_for(lambda: Recipe.objects.filter(project=project, name="Night shift").first(), timeout=10)
    page.wait_for_url(f"**/recipes/{recipe.pk}/edit/")
    page.wait_for_selector("#recipe-editor[data-ready='1']")
    top = page.get_by_test_id("add-top")
    top.locator("select").select_option("GaussNoise")
    top.get_by_test_id("add-button").click()
    top.locator("select").select_option("HorizontalFlip")
    top.get_by_test_id("add-button").click()
    items = page.locator("#transform-list > li.transform")
    expect(items).to_have_count(2)
    # Reorder: the flip first.
    items.nth(1).locator("button[data-action=up]").click()
    expect(items.nth(0)).to_have_attribute("data-name", "HorizontalFlip")
    expect(items.nth(1)).to_have_attribute("data-name", "GaussNoise")
    # Typed fields from the catalogue: std_range is a pair of numbers in [0, 1].
    high = page.locator("[data-path='transforms[1].params.std_range[1]']")
    expect(high).to_have_attribute("type", "number")
    expect(high).to_have_attribute("max", "1")
    expect(page.locator("[data-path='transforms[1].params.per_channel']")).to_have_attribute("type", "checkbox")
    high.fill("1.5")
    message = page.locator("[data-error-for='transforms[1].params.std_range']")
    expect(message).to_contain_text("transforms[1].params.std_range")
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "invalid")
    high.fill("0.3")
    expect(message).to_have_text("")
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "valid")
    page.locator("[data-path='transforms[0].p']").fill("1")
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "valid")
    # The live preview of the unsaved recipe.
    expect(page.get_by_test_id("editor-preview-grid").locator("figure[data-drawn='1']")).to_have_count(4)
    page.get_by_test_id("recipe-save").click()
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "saved")
    recipe.refresh_from_db()
    assert [t["name"] for t in recipe.spec["transforms"]] == ["HorizontalFlip", "GaussNoise"]
    assert recipe.spec["transforms"][0]["p"] == 1
    assert recipe.spec["transforms"][1]["params"]["std_range"] == [0.2, 0.3]
    assert page.errors == []


def test_recipe_editor_groups(pages, users, project, add_images):
    add_images(1, width=64, height=48)
    recipe = Recipe.objects.create(project=project, name="groups", spec={"transforms": []})
    page = pages.open(users["owner"], f"/recipes/{recipe.pk}/edit/", ready=False)
    page.wait_for_selector("#recipe-editor[data-ready='1']")
    top = page.get_by_test_id("add-top")
    top.locator("select").select_option("SomeOf")
    top.get_by_test_id("add-button").click()
    group = page.locator("#transform-list > li.group")
    expect(page.locator("[data-error-for='transforms[0].transforms']")).to_contain_text("non-empty")
    for name in ("Blur", "Defocus"):
        group.locator(".add-transform select").select_option(name)
        group.get_by_test_id("add-button-group").click()
    page.locator("[data-path='transforms[0].n']").fill("2")
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "valid")
    page.get_by_test_id("recipe-save").click()
    expect(page.get_by_test_id("editor-state")).to_have_attribute("data-state", "saved")
    recipe.refresh_from_db()
    spec = recipe.spec["transforms"][0]
    assert spec["name"] == "SomeOf" and spec["n"] == 2 and [t["name"] for t in spec["transforms"]] == ["Blur", "Defocus"]
