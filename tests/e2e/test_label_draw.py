"""Drawing every kind of annotation in the browser and checking what the server stored."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from annotate.geometry import rle_to_mask
from annotate.models import Annotation

from .helpers import click, drag, label_url, to_screen, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def close(a: float, b: float, tol: float = 1.0) -> bool:
    return abs(a - b) <= tol


def test_box_pixels_are_exact_at_fit_after_zoom_and_after_pan(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("b")
    drag(page, (50, 40), (150, 120))
    box = wait_saved(page, image, 1)[0]
    assert box.kind == "box" and box.label_id == labels["cat"].pk
    expect(page.get_by_test_id("status-badge")).to_have_text("in_progress")  # the first save started it
    assert all(close(box.geometry[k], v) for k, v in {"x": 50, "y": 40, "w": 100, "h": 80}.items()), box.geometry

    # zoom in around a point: the point under the cursor stays put, drawing stays in image pixels
    before = to_screen(page, 300, 200)
    page.mouse.move(*before)
    page.mouse.wheel(0, -600)
    scale = float(page.get_by_test_id("annotator-stage").get_attribute("data-scale"))
    assert scale > 2.5
    after = to_screen(page, 300, 200)
    assert close(before[0], after[0], 2) and close(before[1], after[1], 2)
    page.keyboard.press("2")  # dog
    drag(page, (280, 190), (310, 215))
    boxes = wait_saved(page, image, 2)
    second = boxes[1]
    assert second.label_id == labels["dog"].pk
    assert all(close(second.geometry[k], v) for k, v in {"x": 280, "y": 190, "w": 30, "h": 25}.items()), second.geometry

    # pan with space-drag, then draw once more
    start = to_screen(page, 290, 200)
    page.keyboard.down("Space")
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] - 150, start[1] - 90, steps=4)
    page.mouse.up()
    page.keyboard.up("Space")
    moved = to_screen(page, 290, 200)
    assert close(moved[0], start[0] - 150, 2) and close(moved[1], start[1] - 90, 2)
    assert Annotation.objects.filter(image=image).count() == 2  # panning drew nothing
    drag(page, (320, 220), (340, 250))
    third = wait_saved(page, image, 3)[2]
    assert all(close(third.geometry[k], v) for k, v in {"x": 320, "y": 220, "w": 20, "h": 30}.items()), third.geometry

    # fit brings the whole image back
    page.keyboard.press("f")
    img = page.get_by_test_id("annotator-image").bounding_box()
    stage = page.get_by_test_id("annotator-stage").bounding_box()
    assert img["x"] >= stage["x"] - 1 and img["x"] + img["width"] <= stage["x"] + stage["width"] + 1
    assert not page.errors


def test_polygon_with_two_parts(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("p")
    first = [(20, 20), (120, 30), (70, 110)]
    second = [(200, 150), (300, 150), (300, 250), (200, 240)]
    for point in first:
        click(page, *point)
    page.keyboard.press("Shift+Enter")  # close the part, keep the object for another part
    for point in second:
        click(page, *point)
    page.keyboard.press("Enter")
    (polygon,) = wait_saved(page, image, 1)
    assert polygon.kind == "polygon"
    parts = polygon.geometry["polygons"]
    assert len(parts) == 2
    for part, expected in zip(parts, (first, second)):
        got = list(zip(part[0::2], part[1::2]))
        assert len(got) == len(expected)
        assert all(close(gx, ex) and close(gy, ey) for (gx, gy), (ex, ey) in zip(got, expected)), got
    # too few points cannot be closed
    click(page, 10, 200)
    click(page, 50, 200)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("hint")).to_contain_text("at least 3 points")
    page.keyboard.press("Escape")
    assert Annotation.objects.filter(image=image).count() == 1


def test_keypoints_with_a_hidden_and_a_skipped_point(pages, users, project, labels, add_images):
    image = add_images(1, width=400, height=300)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("k")  # the current label has no keypoints: the face label is picked
    expect(page.locator(".ann-labels button.active")).to_contain_text("face")
    hint = page.get_by_test_id("hint")
    expect(hint).to_contain_text("left_eye")
    click(page, 100, 100)
    expect(hint).to_contain_text("right_eye")
    page.keyboard.press("v")  # the next point is hidden
    expect(hint).to_contain_text("hidden")
    click(page, 160, 102)
    expect(hint).to_contain_text("nose")
    page.keyboard.press("n")  # skip the nose: not labelled, which also finishes the object
    (face,) = wait_saved(page, image, 1)
    assert face.kind == "keypoints" and face.label_id == labels["face"].pk
    (lx, ly, lv), (rx, ry, rv), nose = face.geometry["points"]
    assert (lv, rv) == (2, 1) and nose == [0.0, 0.0, 0]
    assert close(lx, 100) and close(ly, 100) and close(rx, 160) and close(ry, 102)
    expect(page.get_by_test_id("annotator-stage").locator("canvas")).to_be_visible()

    # later, in Select: grab the left eye and mark it hidden, then clear the right eye
    page.keyboard.press("Escape")
    click(page, 100, 100)
    page.keyboard.press("v")
    assert wait_saved(page, image, 1)[0].geometry["points"][0][2] == 1
    click(page, 160, 102)
    page.keyboard.press("n")
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saving")
    points = wait_saved(page, image, 1)[0].geometry["points"]
    assert points[1] == [0.0, 0.0, 0] and points[0][2] == 1


def test_brush_stroke_saves_rle_that_decodes_to_the_painted_pixels(pages, users, project, labels, add_images):
    image = add_images(1, width=123, height=97)[0]  # odd sizes catch row/column mix-ups
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("m")
    for _ in range(3):
        page.keyboard.press("[")  # smaller brush
    radius = int(page.get_by_test_id("brush-size").locator("b").inner_text())
    assert radius < 8
    drag(page, (20, 30), (90, 60), steps=10)
    (mask,) = wait_saved(page, image, 1)
    assert mask.kind == "mask"
    decoded = rle_to_mask(mask.geometry).astype(bool)
    assert decoded.shape == (97, 123)
    painted = np.array(
        page.evaluate("""() => {
            const s = window.annotator.editor.shapes.find((s) => s.kind === 'mask');
            return Array.from(s.mask.data);
        }"""),
        dtype=bool,
    ).reshape(97, 123)
    assert (decoded == painted).all()
    # the mask is the stroke: every pixel near the segment, nothing far from it
    ys, xs = np.mgrid[0:97, 0:123]
    px, py = xs + 0.5, ys + 0.5
    ax, ay, bx, by = 20, 30, 90, 60
    t = np.clip(((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    distance = np.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay)))
    assert decoded[distance <= radius - 1.5].all()
    assert not decoded[distance > radius + 1.5].any()

    # the eraser takes a bite out of the same mask
    page.keyboard.press("e")
    drag(page, (55, 45), (56, 46), steps=2)
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saving")
    wait_saved(page, image, 1)
    erased = rle_to_mask(Annotation.objects.get(image=image).geometry).astype(bool)
    assert erased.sum() < decoded.sum() and not erased[45, 55]


def test_tags_and_every_kind_survive_a_reload_exactly(pages, users, project, labels, add_images):
    image = add_images(1, width=200, height=150)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("2")
    page.keyboard.press("t")  # tag the image "dog"
    page.get_by_test_id("tags").locator(f"[data-tag-label='{labels['cat'].pk}']").check()
    page.keyboard.press("b")
    drag(page, (10, 10), (60, 50))
    page.keyboard.press("p")
    for point in ((100, 20), (150, 30), (120, 70)):
        click(page, *point)
    page.keyboard.press("Enter")
    page.keyboard.press("m")
    drag(page, (30, 100), (90, 120))
    page.keyboard.press("Escape")
    page.keyboard.press("k")
    for point in ((150, 100), (170, 100), (160, 120)):
        click(page, *point)
    saved = wait_saved(page, image, 6)
    assert sorted(a.kind for a in saved) == ["box", "keypoints", "mask", "polygon", "tag", "tag"]
    assert {a.label_id for a in saved if a.kind == "tag"} == {labels["cat"].pk, labels["dog"].pk}
    stored = [(a.label_id, a.kind, a.geometry) for a in saved]
    revision = image.__class__.objects.get(pk=image.pk).revision

    page.reload()
    page.wait_for_selector("#annotator[data-ready='1']")
    expect(page.get_by_test_id("object-count")).to_have_text("4")
    assert page.get_by_test_id("tags").locator(f"[data-tag-label='{labels['dog'].pk}']").is_checked()
    shown = page.evaluate("() => window.annotator.saver.serialize()")
    assert [(a["label"], a["kind"], a["geometry"]) for a in shown] == stored
    # saving the reloaded page unchanged round-trips to the same rows
    page.keyboard.press("b")
    drag(page, (5, 130), (25, 145))
    page.keyboard.press("Control+z")
    wait_saved(page, image, 6)
    again = [(a.label_id, a.kind, a.geometry) for a in Annotation.objects.filter(image=image).order_by("id")]
    assert again == stored
    assert image.__class__.objects.get(pk=image.pk).revision > revision
    assert not page.errors
