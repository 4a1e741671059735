"""Instance groups on the labeling page: G groups the selected shapes into one object (one row in
the object list), Shift+G ungroups, rules are refused with a hint, keypoints drawn right after a
box of their label can be attached to it, and groups survive save and reload."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from annotate import services
from annotate.geometry import mask_to_rle

from .helpers import click, drag, label_url, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BOX = (50, 50, 100, 80)  # x, y, w, h: clicked at (100, 90)


def seed(image, items):
    """Store ``(label, kind, geometry[, group])`` items as the image's annotations."""
    payload = [
        {"label": label.pk, "kind": kind, "geometry": geometry, "group": rest[0] if rest else None}
        for label, kind, geometry, *rest in items
    ]
    image.refresh_from_db()
    cleaned = services.annotations_validate(image=image, items=payload)
    services.annotations_replace(image=image, expected_revision=image.revision, items=cleaned)


def mask_geometry(width, height, rows, cols):
    pixels = np.zeros((height, width), dtype=np.uint8)
    pixels[rows, cols] = 1
    return mask_to_rle(pixels)


def box(x, y, w, h):
    return {"x": x, "y": y, "w": w, "h": h}


def api_groups(api, user, image):
    """(kind, group) of each annotation, in order, as the REST API returns them."""
    response = api(user).get(f"/api/images/{image.pk}/annotations")
    assert response.status_code == 200
    return [(a["kind"], a["group"]) for a in response.json()["annotations"]]


def rows(page):
    return page.get_by_test_id("object-list").locator(":scope > li")


def shift_click(page, x, y):
    page.keyboard.down("Shift")
    click(page, x, y)
    page.keyboard.up("Shift")


def test_group_a_box_and_a_mask_reload_highlight_ungroup_and_undo(pages, users, project, labels, add_images, api):
    image = add_images(1, width=400, height=300)[0]
    cat = labels["cat"]
    seed(image, [(cat, "box", box(*BOX)), (cat, "mask", mask_geometry(400, 300, slice(150, 220), slice(220, 320)))])
    user = users["annotator"]
    page = pages.open(user, label_url(image))
    expect(rows(page)).to_have_count(2)

    # select the box, Shift+click the mask, G: one object of two parts
    click(page, 100, 90)
    shift_click(page, 270, 185)
    assert page.evaluate("() => window.annotator.editor.selection.size") == 2
    page.keyboard.press("g")
    expect(rows(page)).to_have_count(1)
    group_row = rows(page).first
    expect(group_row).to_have_class("group active")
    expect(group_row).to_have_attribute("data-parts", "2")
    expect(group_row.locator(".group-row .desc")).to_have_text("cat #1")
    expect(group_row.locator("li[data-uid]")).to_have_count(2)
    expect(page.get_by_test_id("object-count")).to_have_text("1")
    wait_saved(page, image, 2)
    (box_kind, g1), (mask_kind, g2) = api_groups(api, user, image)
    assert (box_kind, mask_kind) == ("box", "mask") and g1 is not None and g1 == g2

    # a reload brings the group back from the server
    page.reload()
    page.wait_for_selector("#annotator[data-ready='1']")
    expect(rows(page)).to_have_count(1)
    parts = rows(page).first.locator("li[data-uid]")
    expect(parts).to_have_count(2)
    expect(parts.nth(0)).to_contain_text("box 100×80")
    expect(parts.nth(1)).to_contain_text("mask")

    # selecting one part highlights the other: in the list and on the canvas
    click(page, 100, 90)
    expect(parts.nth(0)).to_have_class("part selected")
    expect(parts.nth(1)).to_have_attribute("data-related", "1")
    expect(parts.nth(1)).to_have_class("part related")
    mask_uid = int(parts.nth(1).get_attribute("data-uid"))
    assert page.evaluate("() => window.annotator.highlighted()") == [mask_uid]
    # each part still hides on its own
    parts.nth(1).locator("[data-action=hide]").click()
    expect(parts.nth(1).locator("[data-action=hide]")).to_have_text("show")
    parts.nth(1).locator("[data-action=hide]").click()

    # Shift+G: two objects again, saved ungrouped
    page.keyboard.press("Shift+G")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("li[data-related]")).to_have_count(0)
    assert page.evaluate("() => window.annotator.highlighted()") == []
    wait_saved(page, image, 2)
    assert api_groups(api, user, image) == [("box", None), ("mask", None)]

    # both are undoable and autosaved like any edit
    page.keyboard.press("Control+z")
    expect(rows(page)).to_have_count(1)
    wait_saved(page, image, 2)
    assert [g for _, g in api_groups(api, user, image)] == [1, 1]
    page.keyboard.press("Control+Shift+Z")
    expect(rows(page)).to_have_count(2)
    wait_saved(page, image, 2)
    assert api_groups(api, user, image) == [("box", None), ("mask", None)]
    # the keyboard help lists the new keys
    page.keyboard.press("?")
    help_text = page.get_by_test_id("help-overlay").inner_text()
    assert "Shift+G" in help_text and "Shift+click" in help_text
    assert not page.errors


def test_grouping_that_breaks_a_rule_is_refused_with_the_reason(pages, users, project, labels, add_images, api):
    image = add_images(1, width=400, height=300)[0]
    cat, dog = labels["cat"], labels["dog"]
    seed(image, [(cat, "box", box(*BOX)), (cat, "box", box(250, 150, 60, 60)), (dog, "box", box(20, 220, 50, 40))])
    user = users["annotator"]
    page = pages.open(user, label_url(image))
    version = page.evaluate("() => window.annotator.editor.version")
    hint = page.get_by_test_id("hint")

    # two boxes (picked in the object list with Shift+click)
    rows(page).nth(0).click()
    rows(page).nth(1).click(modifiers=["Shift"])
    expect(page.get_by_test_id("object-list").locator("li.selected")).to_have_count(2)
    page.keyboard.press("g")
    expect(hint).to_contain_text("Cannot group: two boxes")
    # two labels (on the canvas)
    click(page, 100, 90)
    shift_click(page, 45, 240)
    page.keyboard.press("g")
    expect(hint).to_contain_text("different labels (cat, dog)")
    # one shape alone is no group
    click(page, 100, 90)
    page.keyboard.press("g")
    expect(hint).to_contain_text("two or more")

    expect(rows(page)).to_have_count(3)
    expect(page.locator("li.group")).to_have_count(0)
    assert page.evaluate("() => window.annotator.editor.version") == version  # nothing changed, nothing to save
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")
    assert [g for _, g in api_groups(api, user, image)] == [None, None, None]
    assert not page.errors


def test_keypoints_drawn_after_a_box_of_their_label_can_be_attached(pages, users, project, labels, add_images, api):
    image = add_images(1, width=400, height=300)[0]
    user = users["annotator"]
    page = pages.open(user, label_url(image))
    prompt = page.get_by_test_id("attach-prompt")
    page.keyboard.press("3")  # face, a keypoint label
    page.keyboard.press("b")
    drag(page, (40, 40), (160, 160))
    page.keyboard.press("k")
    for point in ((70, 80), (130, 80), (100, 120)):
        click(page, *point)
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Attach to face · box 120×120?")
    assert len(page.evaluate("() => window.annotator.highlighted()")) == 1  # the box it would join
    page.keyboard.press("Enter")
    expect(prompt).to_be_hidden()
    wait_saved(page, image, 2)
    assert api_groups(api, user, image) == [("box", 1), ("keypoints", 1)]
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator(".group-row .desc")).to_have_text("face #1")

    # the next box and keypoints: Esc keeps them separate
    page.keyboard.press("b")
    drag(page, (220, 40), (340, 160))
    page.keyboard.press("k")
    for point in ((250, 80), (310, 80), (280, 120)):
        click(page, *point)
    expect(prompt).to_be_visible()
    page.keyboard.press("Escape")
    expect(prompt).to_be_hidden()
    wait_saved(page, image, 4)
    assert api_groups(api, user, image) == [("box", 1), ("keypoints", 1), ("box", None), ("keypoints", None)]
    expect(rows(page)).to_have_count(3)

    # the button works too; and keypoints after keypoints are never offered
    page.keyboard.press("b")
    drag(page, (40, 180), (140, 280))
    page.keyboard.press("k")
    for point in ((60, 200), (120, 200), (90, 250)):
        click(page, *point)
    page.get_by_test_id("attach-accept").click()
    expect(prompt).to_be_hidden()
    for point in ((260, 200), (300, 200), (280, 250)):
        click(page, *point)
    expect(prompt).to_be_hidden()
    wait_saved(page, image, 7)
    assert [g for _, g in api_groups(api, user, image)] == [1, 1, None, None, 2, 2, None]
    assert not page.errors
