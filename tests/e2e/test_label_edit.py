"""Editing in the browser: select, move, resize, delete, undo/redo, copy/paste, hide and lock."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from annotate import services
from annotate.geometry import mask_to_rle, rle_to_mask
from annotate.models import Annotation

from .helpers import click, drag, label_url, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def put_boxes(image, label, *boxes):
    items = services.annotations_validate(
        image=image, items=[{"label": label.pk, "kind": "box", "geometry": dict(zip("xywh", b))} for b in boxes]
    )
    services.annotations_replace(image=image, expected_revision=image.revision, items=items)


def geometries(image):
    return [a.geometry for a in image.annotations.order_by("id")]


def test_undo_and_redo_go_back_and_forth_and_are_saved(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("b")
    drag(page, (10, 10), (110, 60))
    drag(page, (200, 100), (260, 200))
    wait_saved(page, image, 2)
    page.keyboard.press("Control+z")
    assert len(wait_saved(page, image, 1)) == 1
    page.keyboard.press("Control+z")
    wait_saved(page, image, 0)
    page.keyboard.press("Control+Shift+Z")
    wait_saved(page, image, 1)
    page.keyboard.press("Control+Shift+Z")
    saved = wait_saved(page, image, 2)
    assert abs(saved[1].geometry["x"] - 200) <= 1
    page.get_by_role("button", name="Undo").click()
    wait_saved(page, image, 1)
    page.get_by_role("button", name="Redo").click()
    wait_saved(page, image, 2)


def test_select_move_resize_nudge_delete(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    put_boxes(image, labels["cat"], (50, 50, 100, 80), (250, 150, 60, 60))
    page = pages.open(users["annotator"], label_url(image))
    expect(page.get_by_test_id("object-count")).to_have_text("2")
    # drag the first box by its body
    drag(page, (100, 90), (130, 110))
    first = wait_saved(page, image, 2)[0].geometry
    assert abs(first["x"] - 80) <= 1 and abs(first["y"] - 70) <= 1 and first["w"] == 100 and first["h"] == 80
    # resize it by its bottom-right corner (it is selected)
    drag(page, (180, 150), (200, 170))
    first = wait_saved(page, image, 2)[0].geometry
    assert abs(first["x"] - 80) <= 1 and abs(first["w"] - 120) <= 1 and abs(first["h"] - 100) <= 1
    # nudge with the arrows, ten at a time with shift
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("ArrowDown")
    first = wait_saved(page, image, 2)[0].geometry
    assert abs(first["x"] - 90) <= 1.01 and abs(first["y"] - 71) <= 1.01
    # a box cannot be dragged out of the image
    drag(page, (270, 170), (395, 295))
    second = wait_saved(page, image, 2)[1].geometry
    assert second["x"] + second["w"] <= 400 and second["y"] + second["h"] <= 300
    # select from the list and delete with the key
    page.get_by_test_id("object-list").locator("li").first.click()
    page.keyboard.press("Delete")
    remaining = wait_saved(page, image, 1)
    assert remaining[0].geometry == second


def test_copy_paste_hide_and_lock(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    put_boxes(image, labels["cat"], (50, 50, 100, 80))
    page = pages.open(users["annotator"], label_url(image))
    click(page, 100, 90)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    saved = wait_saved(page, image, 2)
    assert saved[1].geometry == {"x": 60.0, "y": 60.0, "w": 100.0, "h": 80.0}
    # relabel the pasted copy with a number key
    page.keyboard.press("2")
    saved = wait_saved(page, image, 2)
    assert saved[1].label_id == labels["dog"].pk

    objects = page.get_by_test_id("object-list")
    # lock the first box: dragging it now pans the view instead of moving it
    objects.locator("li").first.click()
    page.keyboard.press("l")
    expect(objects.locator("li").first.locator("[data-action=lock]")).to_have_class("ghost icon on")
    drag(page, (55, 55), (20, 20))
    page.keyboard.press("f")
    page.wait_for_timeout(900)
    assert geometries(image)[0] == {"x": 50.0, "y": 50.0, "w": 100.0, "h": 80.0}
    # hide the copy: clicking where only it is selects nothing
    objects.locator("li").nth(1).locator("[data-action=hide]").click()
    click(page, 155, 135)
    expect(objects.locator("li.selected")).to_have_count(0)
    # hidden/locked are view state: nothing was saved for them
    assert len(geometries(image)) == 2


def test_a_mask_can_be_moved_and_the_move_undone(pages, users, project, labels, add_images):
    image = add_images(1, width=120, height=90)[0]
    pixels = np.zeros((90, 120), dtype=np.uint8)
    pixels[20:40, 30:60] = 1
    items = services.annotations_validate(
        image=image, items=[{"label": labels["cat"].pk, "kind": "mask", "geometry": mask_to_rle(pixels)}]
    )
    services.annotations_replace(image=image, expected_revision=0, items=items)
    page = pages.open(users["annotator"], label_url(image))
    drag(page, (45, 30), (55, 45))
    moved = rle_to_mask(wait_saved(page, image, 1)[0].geometry)
    expected = np.zeros_like(pixels)
    expected[35:55, 40:70] = 1
    assert (moved == expected).all()
    page.keyboard.press("Control+z")
    wait_saved(page, image, 1)
    assert (rle_to_mask(Annotation.objects.get(image=image).geometry) == pixels).all()
