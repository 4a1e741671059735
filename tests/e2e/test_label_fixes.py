"""Labeling page fixes: a finished shape does not capture the next label key, the page fits the
window, hints follow the tool, double-click closes a polygon, Mark done goes on, keypoint names
on the canvas, full names in the object list; and the project grid's annotation overlay."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate import services
from tests.conftest import annotate

from .helpers import click, drag, label_url, to_screen, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def page_labels(page) -> list[int]:
    return page.evaluate("() => window.annotator.editor.shapes.map((s) => s.label)")


def test_number_keys_after_drawing_set_the_next_label_and_relabel_only_with_select(
    pages, users, project, labels, add_images
):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("b")
    drag(page, (20, 20), (120, 100))
    wait_saved(page, image, 1)
    page.keyboard.press("2")  # the box just drawn keeps its label: dog is for the next box
    drag(page, (200, 150), (300, 250))
    saved = wait_saved(page, image, 2)
    assert [a.label_id for a in saved] == [labels["cat"].pk, labels["dog"].pk]
    expect(page.locator("[data-label-id].active")).to_have_attribute("data-label-id", str(labels["dog"].pk))
    # switching to Select with the new box still selected: a number key does not relabel it either
    page.keyboard.press("s")
    page.keyboard.press("1")
    assert page_labels(page) == [labels["cat"].pk, labels["dog"].pk]
    # chosen with the Select tool, it is relabelled
    click(page, 250, 200)
    page.keyboard.press("1")
    page.wait_for_function(f"() => window.annotator.editor.shapes[1].label === {labels['cat'].pk}")
    click(page, 70, 60)
    page.keyboard.press("2")
    page.wait_for_function(f"() => window.annotator.editor.shapes[0].label === {labels['dog'].pk}")
    wait_saved(page, image, 2)
    assert [a.label_id for a in image.annotations.order_by("id")] == [labels["dog"].pk, labels["cat"].pk]
    assert not page.errors


@pytest.mark.parametrize("size", [(1440, 900), (1280, 720)])
def test_the_page_fits_the_window_and_the_hint_is_off_the_image(pages, users, project, labels, add_images, size):
    image = add_images(1, width=640, height=480)[0]
    # a long object list must not push the review buttons out of the window
    annotate(image, [(labels["cat"], "box", {"x": 10 + i * 5, "y": 10 + i * 3, "w": 40, "h": 30}) for i in range(40)])
    page = pages.open(users["owner"], label_url(image))
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    page.keyboard.press("f")
    page.wait_for_timeout(200)
    metrics = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollHeight, inner: innerHeight, innerW: innerWidth})"
    )
    assert metrics["scroll"] <= metrics["inner"], metrics
    for testid in ("review-reject", "review-accept", "mark-done"):
        box = page.get_by_test_id(testid).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (testid, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (testid, box)
    img = page.get_by_test_id("annotator-image").bounding_box()
    assert img["y"] + img["height"] <= height, img
    stage = page.get_by_test_id("annotator-stage").bounding_box()
    assert img["y"] + img["height"] <= stage["y"] + stage["height"] + 1
    canvas = page.locator(".ann-canvas").bounding_box()
    hint = page.get_by_test_id("hint").bounding_box()
    assert hint is not None and hint["height"] > 0
    overlap_x = min(hint["x"] + hint["width"], canvas["x"] + canvas["width"]) - max(hint["x"], canvas["x"])
    overlap_y = min(hint["y"] + hint["height"], canvas["y"] + canvas["height"]) - max(hint["y"], canvas["y"])
    assert overlap_x <= 0 or overlap_y <= 0.5, (hint, canvas)
    assert hint["y"] + hint["height"] <= height
    assert not page.errors


def test_hints_follow_the_tool_and_double_click_closes_a_polygon(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    hint = page.get_by_test_id("hint")
    page.keyboard.press("p")
    click(page, 20, 20)
    click(page, 120, 30)
    page.keyboard.press("Enter")  # two points: refused, said in the hint
    expect(hint).to_contain_text("at least 3 points")
    page.keyboard.press("b")  # the message belonged to the polygon: the box tool says its own
    expect(hint).not_to_contain_text("at least 3 points")
    expect(hint).to_contain_text("box")
    page.keyboard.press("p")
    for point in [(20, 20), (120, 30)]:
        click(page, *point)
    page.mouse.dblclick(*to_screen(page, 70, 110))
    saved = wait_saved(page, image, 1)
    assert saved[0].kind == "polygon"
    polygon = saved[0].geometry["polygons"]
    assert len(polygon) == 1 and len(polygon[0]) == 6, polygon
    assert abs(polygon[0][4] - 70) <= 1 and abs(polygon[0][5] - 110) <= 1
    assert page.evaluate("() => window.annotator.tool.points.length") == 0
    assert not page.errors


def test_mark_done_goes_to_the_next_image_of_the_filter(pages, users, project, labels, add_images):
    first, middle, last = add_images(3, width=200, height=150)
    for image in (first, last):
        services.image_update(image=image, split="train")
    services.image_update(image=middle, split="val")
    page = pages.open(users["annotator"], label_url(first, "split=train"))
    page.get_by_test_id("mark-done").click()
    page.wait_for_url(re.compile(rf"/images/{last.pk}/label\?split=train$"))
    page.wait_for_selector("#annotator[data-ready='1']")
    first.refresh_from_db()
    assert first.status == "done"
    page.get_by_test_id("mark-done").click()  # the last one: done, and stays
    expect(page.get_by_test_id("status-badge")).to_have_text("done")
    expect(page.get_by_test_id("hint")).to_contain_text("No more images")
    last.refresh_from_db()
    assert last.status == "done"


def test_keypoint_names_are_shown_on_hover_and_for_the_selected_set(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    annotate(image, [(labels["face"], "keypoints", {"points": [[100, 100, 2], [200, 100, 2], [150, 180, 1]]})])
    page = pages.open(users["annotator"], label_url(image))
    shown = "() => window.annotator.stage.shownNames || []"
    page.mouse.move(*to_screen(page, 30, 250))
    page.wait_for_function(f"() => ({shown})().length === 0")
    page.mouse.move(*to_screen(page, 200, 100))
    page.wait_for_function(f"() => JSON.stringify(({shown})()) === JSON.stringify(['right_eye'])")
    click(page, 150, 180)  # select the set: every point is named
    page.mouse.move(*to_screen(page, 30, 250))
    page.wait_for_function(f"() => ({shown})().sort().join() === 'left_eye,nose,right_eye'")
    assert not page.errors


def test_the_object_list_shows_long_label_names_in_full(pages, users, project, labels, add_images):
    long_name = "a very long label name for the rear left wheel of a delivery truck seen from far away"
    label = services.label_create(project=project, name=long_name, color="#0000ff")
    image = add_images(1, width=400, height=300)[0]
    annotate(image, [(label, "box", {"x": 10, "y": 10, "w": 50, "h": 40})])
    page = pages.open(users["annotator"], label_url(image))
    desc = page.get_by_test_id("object-list").locator("li .desc").first
    expect(desc).to_contain_text(long_name)
    assert long_name in (desc.get_attribute("title") or "")
    clipped = desc.evaluate(
        "el => el.scrollWidth > el.clientWidth + 1 || getComputedStyle(el).textOverflow === 'ellipsis'"
    )
    assert not clipped
    box = desc.bounding_box()
    side = page.locator(".ann-side").bounding_box()
    assert box["x"] + box["width"] <= side["x"] + side["width"] + 1


def test_grid_thumbnails_show_annotations_and_names_both_toggleable(pages, users, project, labels, add_images):
    images = add_images(3, width=200, height=150)
    annotate(images[0], [(labels["cat"], "box", {"x": 20, "y": 20, "w": 100, "h": 80})])
    page = pages.open(users["annotator"], f"/projects/{project.pk}/", ready=False)
    grid = page.get_by_test_id("image-grid")
    tile = grid.locator(f'figure.tile[data-image-id="{images[0].pk}"]')
    names = page.get_by_test_id("grid-show-names")
    overlay = page.get_by_test_id("grid-show-annotations")
    expect(names).to_be_checked()
    expect(overlay).to_be_checked()
    expect(tile.locator(".tile-name")).to_have_text(images[0].original_name)
    expect(tile.locator("canvas.tile-overlay")).to_have_attribute("data-drawn", "1")
    assert tile.locator("canvas.tile-overlay").get_attribute("data-shapes") == "1"
    # the box is drawn in the label's colour, where the box is on the tile
    red = tile.locator("canvas.tile-overlay").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] < 60 && d[i+3] > 200) n++;
                  return n; }"""
    )
    assert red > 20
    other = grid.locator(f'figure.tile[data-image-id="{images[1].pk}"] canvas.tile-overlay')
    expect(other).to_have_attribute("data-shapes", "0")
    overlay.uncheck()
    expect(tile.locator("canvas.tile-overlay")).to_be_hidden()
    names.uncheck()
    expect(tile.locator(".tile-name")).to_be_hidden()
    page.reload()
    expect(page.get_by_test_id("grid-show-names")).not_to_be_checked()
    expect(page.get_by_test_id("grid-show-annotations")).not_to_be_checked()
    expect(tile.locator(".tile-name")).to_be_hidden()
    expect(tile.locator("canvas.tile-overlay")).to_be_hidden()
    page.get_by_test_id("grid-show-annotations").check()
    expect(tile.locator("canvas.tile-overlay")).to_be_visible()
    assert not page.errors
