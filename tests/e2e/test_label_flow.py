"""The labeling flow in the browser: navigation within a filter, status and split, review,
read-only viewers, save errors, leaving with unsaved work, and the 412 conflict."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate import services
from annotate.models import Annotation, Image

from .helpers import drag, label_url, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_keyboard_navigation_stays_in_the_filter_and_saves_first(pages, users, project, labels, add_images):
    first, middle, last = add_images(3, width=200, height=150)
    for image in (first, last):
        services.image_update(image=image, split="train")
    services.image_update(image=middle, split="val")
    page = pages.open(users["annotator"], label_url(first, "split=train"))
    expect(page.get_by_test_id("position")).to_have_text("1 / 2")
    page.keyboard.press("a")  # nothing before the first image
    expect(page.get_by_test_id("hint")).to_contain_text("No more images")
    page.keyboard.press("b")
    drag(page, (10, 10), (50, 40))
    page.keyboard.press("d")  # saves the box, then skips the val image
    page.wait_for_url(re.compile(rf"/images/{last.pk}/label\?split=train$"))
    page.wait_for_selector("#annotator[data-ready='1']")
    assert Annotation.objects.filter(image=first).count() == 1
    expect(page.get_by_test_id("position")).to_have_text("2 / 2")
    page.keyboard.press("a")
    page.wait_for_url(re.compile(rf"/images/{first.pk}/label\?split=train$"))
    page.wait_for_selector("#annotator[data-ready='1']")
    expect(page.get_by_test_id("object-count")).to_have_text("1")


def test_mark_done_change_split_and_help(pages, users, project, labels, add_images):
    image = add_images(1, width=200, height=150)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("?")
    help_overlay = page.get_by_test_id("help-overlay")
    expect(help_overlay).to_be_visible()
    for keys in ("Ctrl+Z / Ctrl+Shift+Z", "Space+drag", "middle-drag", "D / A", "[ / ]", "1 – 9", "Ctrl+C / Ctrl+V", "H / L"):
        expect(help_overlay).to_contain_text(keys)
    page.keyboard.press("Escape")
    expect(help_overlay).to_be_hidden()

    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("status-badge")).to_have_text("done")
    page.get_by_test_id("split-select").select_option("val")
    expect(page.get_by_test_id("split-badge")).to_have_text("val")
    image.refresh_from_db()
    assert (image.status, image.split, image.split_locked) == ("done", "val", True)


def test_review_reject_is_seen_by_the_annotator_and_filterable(pages, users, project, labels, add_images, live_server):
    image, other = add_images(2, width=200, height=150)
    reviewer = pages.open(users["reviewer"], label_url(image))
    reviewer.get_by_test_id("review-reject").click()  # no comment: refused, nothing changes
    expect(reviewer.get_by_test_id("hint")).to_contain_text("Say what needs fixing")
    image.refresh_from_db()
    assert image.meta.get("rejected") is None
    reviewer.get_by_test_id("review-comment").fill("The left cat has no box.")
    reviewer.get_by_test_id("review-reject").click()
    expect(reviewer.get_by_test_id("review-banner")).to_contain_text("The left cat has no box.")
    image.refresh_from_db()
    assert image.meta["rejected"] is True and image.status == Image.Status.IN_PROGRESS

    annotator = pages.open(users["annotator"], f"/projects/{project.pk}/", ready=False)
    annotator.get_by_test_id("filter-rejected").check()
    annotator.get_by_role("button", name="Filter").click()
    tiles = annotator.get_by_test_id("image-grid").locator("figure.tile")
    expect(tiles).to_have_count(1)
    tiles.first.locator("a").click()
    annotator.wait_for_selector("#annotator[data-ready='1']")
    assert f"/images/{image.pk}/label?rejected=1" in annotator.url
    expect(annotator.get_by_test_id("review-banner")).to_contain_text("The left cat has no box.")
    expect(annotator.get_by_test_id("review-panel")).to_have_count(0)  # annotators do not review

    reviewer.get_by_test_id("review-accept").click()
    expect(reviewer.get_by_test_id("status-badge")).to_have_text("reviewed")
    image.refresh_from_db()
    assert image.status == Image.Status.REVIEWED and image.meta["rejected"] is False


def test_viewer_cannot_edit(pages, users, project, labels, add_images):
    image = add_images(1, width=200, height=150)[0]
    page = pages.open(users["viewer"], label_url(image))
    writes = []
    page.on("request", lambda r: writes.append(r) if r.method != "GET" else None)
    expect(page.locator("[data-tool=box]")).to_be_hidden()
    expect(page.get_by_test_id("review-panel")).to_have_count(0)
    expect(page.get_by_test_id("split-select")).to_be_disabled()
    expect(page.get_by_test_id("mark-done")).to_have_count(0)
    page.keyboard.press("b")
    drag(page, (10, 10), (100, 100))
    page.keyboard.press("t")
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(1000)
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")
    expect(page.get_by_test_id("object-count")).to_have_text("0")
    assert writes == [] and Annotation.objects.filter(image=image).count() == 0
    # viewing still works: zoom and fit
    page.keyboard.press("+")
    assert float(page.get_by_test_id("annotator-stage").get_attribute("data-scale")) > 0


def test_save_error_is_shown_and_leaving_with_unsaved_work_warns(pages, users, project, labels, add_images):
    image = add_images(1, width=200, height=150)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.route("**/annotations", lambda route: route.fulfill(status=503, body='{"detail": "down for a moment"}')
               if route.request.method == "PUT" else route.continue_())
    page.keyboard.press("b")
    drag(page, (10, 10), (100, 100))
    state = page.get_by_test_id("save-state")
    expect(state).to_have_attribute("data-state", "error")
    expect(state).to_contain_text("down for a moment")
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert not page.is_closed()
    # the server comes back: the next edit saves everything
    page.unroute("**/annotations")
    drag(page, (120, 100), (150, 140))
    wait_saved(page, image, 2)


def test_conflict_keep_mine_then_take_theirs_without_losing_edits(pages, users, project, labels, add_images):
    image = add_images(1, width=300, height=200)[0]
    alice = pages.open(users["annotator"], label_url(image))
    bob = pages.open(users["reviewer"], label_url(image))
    alice.keyboard.press("b")
    drag(alice, (10, 10), (60, 60))
    wait_saved(alice, image, 1)

    bob.keyboard.press("2")
    bob.keyboard.press("b")
    drag(bob, (100, 100), (200, 180))
    expect(bob.get_by_test_id("save-state")).to_have_attribute("data-state", "conflict")
    dialog = bob.get_by_test_id("conflict-dialog")
    expect(dialog).to_be_visible()
    expect(bob.get_by_test_id("conflict-mine")).to_contain_text("1 × dog · box")
    expect(bob.get_by_test_id("conflict-theirs")).to_contain_text("1 × cat · box")
    bob.get_by_test_id("conflict-preview").check()  # their version drawn over the image
    assert Annotation.objects.get(image=image).label_id == labels["cat"].pk  # nothing overwritten yet
    bob.get_by_test_id("keep-mine").click()
    saved = wait_saved(bob, image, 1)
    assert saved[0].label_id == labels["dog"].pk
    assert Image.objects.get(pk=image.pk).revision == 2

    # Alice, still on revision 1, edits and conflicts; she takes Bob's version
    drag(alice, (10, 120), (40, 150))
    expect(alice.get_by_test_id("save-state")).to_have_attribute("data-state", "conflict")
    alice.get_by_test_id("take-theirs").click()
    expect(alice.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")
    expect(alice.get_by_test_id("object-count")).to_have_text("1")
    assert [a.label_id for a in Annotation.objects.filter(image=image)] == [labels["dog"].pk]
    # her own two boxes are one undo away, and saving them now is an ordinary save
    alice.keyboard.press("Control+z")
    saved = wait_saved(alice, image, 2)
    assert {a.label_id for a in saved} == {labels["cat"].pk}
    assert Image.objects.get(pk=image.pk).revision == 3


def test_a_small_project_from_the_grid_to_done_with_keyboard_and_mouse(pages, users, project, labels, add_images):
    images = add_images(3, width=200, height=150)
    page = pages.open(users["annotator"], f"/projects/{project.pk}/?status=new", ready=False)
    page.get_by_test_id("image-grid").locator("figure.tile a").first.click()
    for i, image in enumerate(images):
        page.wait_for_url(re.compile(rf"/images/{image.pk}/label\?status=new$"))
        page.wait_for_selector("#annotator[data-ready='1']")
        page.keyboard.press(str(i % 2 + 1))
        page.keyboard.press("t")
        page.keyboard.press("b")
        drag(page, (20 + 10 * i, 20), (120, 100))
        page.keyboard.press("Control+Enter")  # saves, then marks done
        expect(page.get_by_test_id("status-badge")).to_have_text("done")
        if i < len(images) - 1:
            page.keyboard.press("d")
    page.keyboard.press("d")
    expect(page.get_by_test_id("hint")).to_contain_text("No more images")
    for i, image in enumerate(images):
        image.refresh_from_db()
        assert image.status == "done"
        kinds = sorted(a.kind for a in image.annotations.all())
        assert kinds == ["box", "tag"]
        assert abs(image.annotations.get(kind="box").geometry["x"] - (20 + 10 * i)) <= 1


def test_a_project_without_labels_says_so_instead_of_drawing(pages, users, project, add_images):
    image = add_images(1, width=200, height=150)[0]
    page = pages.open(users["annotator"], label_url(image))
    page.keyboard.press("b")
    drag(page, (10, 10), (100, 100))
    expect(page.get_by_test_id("hint")).to_contain_text("no labels yet")
    page.wait_for_timeout(900)
    expect(page.get_by_test_id("save-state")).to_have_attribute("data-state", "saved")
    assert Annotation.objects.filter(image=image).count() == 0 and not page.errors
