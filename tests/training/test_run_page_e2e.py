"""The run page in a browser: it follows a running run through the API — new epochs, the test
metrics, plots and the variant table appear without a reload, and the cancel button goes once it
has ended; the list page's form starts a run and a refusal shows the field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from jobs.services import job_create
from tests.conftest import image_bytes
from training.models import ModelArtifact, TrainingRun

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def epoch(n: int) -> dict:
    return {"epoch": n, "loss": 1 / n, "val_loss": 1.1 / n, "val_accuracy": n / 4, "lr": 0.001, "seconds": 1.5}


def test_the_run_page_follows_the_run(pages, users, project, classify_version, settings, tmp_path):
    settings.TRAINING_DIR = tmp_path / "training"
    job = job_create(kind="training.run", project=project, created_by=users["owner"])
    Job.objects.filter(pk=job.pk).update(status="running", progress=0.3, message="Epoch 2/3 · batch 1/3")
    run = TrainingRun.objects.create(project=project, version=classify_version, task="classify", job=job,
                                     architecture="mobilenet_v3_small", input_size=64, epochs=3, batch_size=4,
                                     learning_rate=0.001, labels=["cat", "dog"], history=[epoch(1)])
    page = pages.open(users["owner"], f"/training-runs/{run.pk}/", ready=False)
    expect(page.get_by_test_id("run-status")).to_have_text("running")
    expect(page.locator("button.cancel")).to_be_visible()
    expect(page.get_by_test_id("epochs").locator("tbody tr")).to_have_count(1)

    (run.folder / "plots").mkdir(parents=True)
    (run.folder / "plots" / "learning_curves.png").write_bytes(image_bytes(320, 200, fmt="PNG"))
    (run.folder / "model.tflite").write_bytes(b"TFL3")
    ModelArtifact.objects.create(run=run, format="tflite", variant="int8", path="model.tflite", size_bytes=2048,
                                 sha256="ab" * 32, latency_ms={"1": 3.25, "2": 2.0}, metrics={"accuracy": 0.8125})
    TrainingRun.objects.filter(pk=run.pk).update(
        history=[epoch(1), epoch(2), epoch(3)], best_epoch=3, metrics={"accuracy": 0.875},
        plots={"learning_curves": "plots/learning_curves.png"},
    )
    Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0, message="Done")

    expect(page.get_by_test_id("run-status")).to_have_text("succeeded", timeout=10_000)
    expect(page.get_by_test_id("epochs").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("epochs").locator("tr.best")).to_contain_text("0.75")
    expect(page.get_by_test_id("metrics")).to_contain_text("0.875")
    expect(page.get_by_test_id("variants")).to_contain_text("0.8125")
    expect(page.get_by_test_id("variants").get_by_role("link", name="zip")).to_have_attribute(
        "href", f"/api/artifacts/{run.artifacts.get().pk}/download")
    image = page.get_by_test_id("plots").locator("img")
    expect(image).to_have_count(1)
    page.wait_for_function("document.querySelector('[data-testid=plots] img').naturalWidth === 320")
    expect(page.locator("button.cancel")).to_have_count(0)
    assert page.errors == []


def test_the_start_form_shows_refusals_and_opens_the_new_run(pages, users, project, classify_version, fake_worker):
    page = pages.open(users["owner"], f"/projects/{project.pk}/training-runs/?version={classify_version.pk}",
                      ready=False)
    page.locator("input[name=input_size]").fill("100")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#train-form-error")).to_contain_text("input_size")
    assert not TrainingRun.objects.exists()
    page.locator("select[name=task]").select_option("detect")
    expect(page.locator("select[name=architecture] option[value=efficientnet_b0]")).to_be_disabled()
    page.locator("select[name=task]").select_option("classify")
    page.locator("input[name=input_size]").fill("64")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url("**/training-runs/*/")
    run = TrainingRun.objects.get()
    assert page.url.endswith(f"/training-runs/{run.pk}/") and run.input_size == 64
    expect(page.get_by_test_id("run-status")).to_have_text("succeeded")  # ran eagerly, with the fake process
    assert page.errors == []
