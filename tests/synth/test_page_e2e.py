"""The synth page in a real browser: launch a small cut-and-paste job through the form and see its
thumbnails appear (Celery is eager in tests, so the job runs inside the POST)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.models import Image
from synth.models import SynthJob

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
    spec = {"generator": "cutpaste", "count": 2, "resolution": [64, 48], "seed": 1, "shard_size": 1,
            "classes": [{"label": labels["cat"].pk, "assets": [cutout.pk]}], "backgrounds": [background.pk]}
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
