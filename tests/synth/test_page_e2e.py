"""The synth page in a real browser: launch a small cut-and-paste job through the form and see its
thumbnails appear (Celery is eager in tests, so the job runs inside the POST); delete assets; launch a
Blender job with edited ranges (queued for a worker that is not there, so nothing renders)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.access import DENIED_MESSAGES
from annotate.models import Image, Membership
from annotate.permissions import Can
from synth.models import Asset, SynthJob

from .builders import cutpaste_assets

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_launch_cutpaste_job_and_see_its_thumbnails(pages, users, project, labels):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    page = pages.open(users["annotator"], f"/projects/{project.pk}/synth/", ready=False)
    page.get_by_test_id("generator-cutpaste").check()
    page.get_by_test_id("count").fill("2")
    page.get_by_test_id("width").fill("96")
    page.get_by_test_id("height").fill("72")
    page.get_by_test_id("use-label-cat").check()
    page.get_by_test_id(f"cutout-{cutout.pk}").check()
    page.get_by_test_id(f"background-{background.pk}").check()
    page.get_by_test_id("launch").click()

    card = page.locator(".synth-job").first
    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(card.locator(".thumbs img")).to_have_count(2, timeout=30_000)
    synth_job = SynthJob.objects.get()
    assert synth_job.spec["generator"] == "cutpaste" and synth_job.spec["count"] == 2
    assert synth_job.created_by == users["annotator"]
    stored = set(Image.objects.filter(project=project, source="synthetic").values_list("pk", flat=True))
    shown = {int(i) for i in card.locator(".thumbs a").evaluate_all("links => links.map(a => a.dataset.image)")}
    assert shown == stored and len(stored) == 2
    # The thumbnails are real images served by the thumbnail API, and link to the labeling page.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.synth-job .thumbs img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    href = card.locator(".thumbs a").first.get_attribute("href")
    assert href.startswith(f"/projects/{project.pk}/images/") and href.endswith("/label")
    expect(card.locator("progress")).to_have_attribute("value", "1")
    assert page.errors == []


def test_refused_spec_shows_the_reason_and_queues_nothing(pages, users, project, labels):
    page = pages.open(users["owner"], f"/projects/{project.pk}/synth/", ready=False)
    page.get_by_test_id("count").fill("1000000000")
    page.get_by_test_id("use-label-cat").check()  # and no model chosen: an empty asset list
    page.get_by_test_id("launch").click()
    error = page.get_by_test_id("form-error")
    expect(error).to_contain_text("count")
    expect(error).to_contain_text("empty asset list")
    assert not SynthJob.objects.exists()


def test_page_follows_a_queued_job_until_its_images_arrive(pages, users, project, labels):
    from synth import services
    from synth.tasks import render_shard

    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    spec = {
        "generator": "cutpaste",
        "count": 2,
        "resolution": [64, 48],
        "seed": 1,
        "shard_size": 1,
        "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}],
        "backgrounds": [background.pk],
    }
    synth_job = services.synth_job_create(project=project, spec=spec, user=users["owner"], enqueue=False)
    page = pages.open(users["viewer"], f"/projects/{project.pk}/synth/", ready=False)
    card = page.get_by_test_id(f"synth-job-{synth_job.pk}")
    expect(card).to_have_attribute("data-status", "queued")
    expect(card.locator(".thumbs img")).to_have_count(0)
    first, second = synth_job.shards.order_by("number")
    render_shard.delay(first.job_id)  # a worker renders one shard: the page picks it up by polling
    expect(card.locator(".thumbs img")).to_have_count(1, timeout=15_000)
    expect(card.locator("progress")).to_have_attribute("value", "0.5")
    render_shard.delay(second.job_id)
    expect(card).to_have_attribute("data-status", "succeeded", timeout=15_000)
    expect(card.locator(".thumbs img")).to_have_count(2)
    assert page.errors == []


@pytest.fixture
def queued_only():
    """Jobs launched meanwhile wait in the broker for a worker instead of running inside the request
    (no Blender render); their messages are purged afterwards so that no later worker picks them up."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("render")


def test_delete_assets_from_the_page(pages, users, project, labels):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    page = pages.open(users["annotator"], f"/projects/{project.pk}/synth/", ready=False)
    page.get_by_test_id("generator-cutpaste").check()
    dialogs = []

    def answer(accept: bool):
        def handle(dialog):
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", handle)

    answer(False)  # asked, and the user changes their mind: nothing happens
    page.get_by_test_id(f"delete-asset-{cutout.pk}").click()
    assert "cut.png" in dialogs[0]
    expect(page.get_by_test_id(f"cutout-{cutout.pk}")).to_be_visible()
    assert Asset.objects.filter(pk=cutout.pk).exists()

    answer(True)
    page.get_by_test_id(f"delete-asset-{cutout.pk}").click()
    expect(page.locator(f'[data-asset-item="{cutout.pk}"]')).to_have_count(0)
    expect(page.get_by_test_id(f"delete-asset-{cutout.pk}")).to_have_count(0)
    assert not Asset.objects.filter(pk=cutout.pk).exists()

    answer(True)
    page.get_by_test_id(f"delete-asset-{background.pk}").click()
    expect(page.get_by_test_id(f"background-{background.pk}")).to_have_count(0)
    assert not Asset.objects.exists() and len(dialogs) == 3
    assert page.errors == []


def test_refused_delete_shows_the_api_message_and_viewers_get_no_button(pages, users, project, labels):
    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    viewer = pages.open(users["viewer"], f"/projects/{project.pk}/synth/", ready=False)
    expect(viewer.get_by_test_id("read-only")).to_be_visible()
    expect(viewer.locator(".asset-delete")).to_have_count(0)

    page = pages.open(users["annotator"], f"/projects/{project.pk}/synth/", ready=False)
    expect(page.locator(".asset-delete")).to_have_count(2)
    # The annotator is made a viewer while the page is open: the API refuses and the page says why.
    Membership.objects.filter(project=project, user=users["annotator"]).update(role="viewer")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id(f"delete-asset-{background.pk}").click()
    item = page.locator(f'[data-asset-item="{background.pk}"]')
    expect(item.locator(".error")).to_have_text(DENIED_MESSAGES[Can.UPLOAD])
    expect(page.get_by_test_id(f"background-{background.pk}")).to_be_visible()
    assert Asset.objects.filter(pk=background.pk).exists() and Asset.objects.count() == 2
    assert page.errors == []


def choose_builtin_cube(page, label) -> None:
    page.get_by_test_id(f"use-label-{label.name}").check()
    page.locator(f'.synth-class[data-label="{label.pk}"] input[value="builtin:cube"]').check()


def test_blender_job_sends_the_edited_ranges(pages, users, project, labels, queued_only):
    from synth.spec import BLENDER_RANGES

    page = pages.open(users["annotator"], f"/projects/{project.pk}/synth/", ready=False)
    ranges = page.get_by_test_id("blender-ranges")
    page.get_by_test_id("generator-cutpaste").check()
    expect(ranges).to_be_hidden()  # the ranges are Blender's only
    page.get_by_test_id("generator-blender").check()
    expect(ranges).to_be_visible()
    expect(page.get_by_test_id("camera_elevation-min")).to_have_value("10")
    page.get_by_text("Camera, lights and materials").click()
    edited = {
        "camera_distance": ["2.5", "3"],
        "camera_elevation": ["-5", "75.5"],
        "camera_azimuth": ["90", "180"],
        "focal_length": ["24", "85"],
        "light_count": ["2", "4"],
        "light_power": ["50", "2000"],
        "light_temperature": ["2700", "6500"],
        "hue_jitter": ["-0.2", "0.1"],
        "roughness": ["0", "0.35"],
    }
    for name, (low, high) in edited.items():
        page.get_by_test_id(f"{name}-min").fill(low)
        page.get_by_test_id(f"{name}-max").fill(high)
    page.get_by_test_id("count").fill("3")
    choose_builtin_cube(page, labels["cat"])
    page.get_by_test_id("launch").click()

    expect(page.locator(".synth-job")).to_have_count(1)
    expect(page.get_by_test_id("form-error")).to_be_hidden()
    spec = SynthJob.objects.get().spec
    assert spec["generator"] == "blender" and spec["count"] == 3
    for name, (low, high) in edited.items():
        assert spec[name] == [float(low), float(high)], name
    assert spec["light_count"] == [2, 4]
    assert spec["object_scale"] == BLENDER_RANGES["object_scale"][0]  # left alone: the default
    expect(page.locator(".synth-job").first).to_have_attribute("data-status", "queued")
    assert page.errors == []


def test_absurd_range_shows_the_field_named_refusal_and_creates_nothing(pages, users, project, labels, queued_only):
    page = pages.open(users["owner"], f"/projects/{project.pk}/synth/", ready=False)
    summary = page.get_by_text("Camera, lights and materials")
    summary.click()
    page.get_by_test_id("camera_elevation-min").fill("60")
    page.get_by_test_id("camera_elevation-max").fill("20")
    page.get_by_test_id("light_power-max").fill("")
    summary.click()  # folded away again: the refusal unfolds it
    choose_builtin_cube(page, labels["cat"])
    page.get_by_test_id("launch").click()

    error = page.get_by_test_id("form-error")
    expect(error).to_contain_text("camera_elevation: The minimum 60 is larger than the maximum 20.")
    expect(error).to_contain_text("light_power: Must be [min, max]")
    expect(page.get_by_test_id("camera_elevation-min")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("light_power-max")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("camera_elevation-min")).to_be_visible()
    expect(page.get_by_test_id("roughness-min")).not_to_have_attribute("aria-invalid", "true")
    assert not SynthJob.objects.exists()
    expect(page.locator(".synth-job")).to_have_count(0)

    page.get_by_test_id("camera_elevation-min").fill("20")  # corrected: accepted, the marks go
    page.get_by_test_id("light_power-max").fill("900")
    page.get_by_test_id("launch").click()
    expect(page.locator(".synth-job")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(page.get_by_test_id("camera_elevation-min")).not_to_have_attribute("aria-invalid", "true")
    spec = SynthJob.objects.get().spec
    assert spec["camera_elevation"] == [20.0, 20.0] and spec["light_power"] == [300.0, 900.0]
    assert page.errors == []


def test_a_launched_job_is_shown_first_and_queued_cutpaste_jobs_wait_for_any_worker(pages, users, project, labels):
    from synth import services

    cutout, background = cutpaste_assets(project, labels["cat"], users["owner"])
    cutpaste = {
        "generator": "cutpaste",
        "count": 1,
        "resolution": [64, 48],
        "seed": 1,
        "shard_size": 1,
        "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}],
        "backgrounds": [background.pk],
    }
    blender = {
        "generator": "blender",
        "count": 1,
        "resolution": [64, 48],
        "seed": 1,
        "classes": [{"label": labels["cat"].pk, "assets": ["builtin:cube"]}],
    }
    older_blender = services.synth_job_create(project=project, spec=blender, user=users["owner"], enqueue=False)
    older = services.synth_job_create(project=project, spec=cutpaste, user=users["owner"], enqueue=False)
    page = pages.open(users["annotator"], f"/projects/{project.pk}/synth/", ready=False)
    waiting = page.get_by_test_id(f"synth-job-{older.pk}").locator(".message")
    expect(waiting).to_contain_text("Waiting for a worker")
    expect(waiting).not_to_contain_text("render")
    # Blender jobs do wait for a render worker
    expect(page.get_by_test_id(f"synth-job-{older_blender.pk}").locator(".message")).to_contain_text("render worker")

    page.get_by_test_id("generator-cutpaste").check()
    page.get_by_test_id("count").fill("1")
    page.get_by_test_id("width").fill("64")
    page.get_by_test_id("height").fill("48")
    page.get_by_test_id("use-label-cat").check()
    page.get_by_test_id(f"cutout-{cutout.pk}").check()
    page.get_by_test_id(f"background-{background.pk}").check()
    page.get_by_test_id("launch").click()
    expect(page.locator(".synth-job")).to_have_count(3)
    launched = SynthJob.objects.order_by("-id").first()
    assert launched.pk not in (older.pk, older_blender.pk)
    first = page.locator(".synth-job").first
    expect(first).to_have_attribute("data-id", str(launched.pk))
    expect(first).to_have_class("card synth-job launched")
    expect(page.get_by_test_id("launched")).to_contain_text(f"Job {launched.pk}")
    expect(first).to_be_in_viewport()
    # still waiting, the older cut-and-paste job keeps saying so after the page polled it
    page.wait_for_timeout(1500)
    expect(waiting).to_contain_text("Waiting for a worker")
    expect(waiting).not_to_contain_text("render")
    assert page.errors == []
