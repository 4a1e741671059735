"""The admin: the add form queues a run through the service (its refusals on the form), the change
list shows status/progress/epoch/best metric, the actions cancel and re-run, and the change page of a
run is read-only with its epoch table, plots and variants."""

from __future__ import annotations

import pytest

from jobs.models import Job
from training.models import TrainingRun

from .conftest import run_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


def form_data(version, **changes) -> dict:
    data = {
        "version": version.pk, "task": "classify", "architecture": "mobilenet_v3_small", "input_size": 64,
        "epochs": 2, "batch_size": 4, "learning_rate": 0.01, "schedule": "cosine", "warmup_epochs": "",
        "recipe": "", "init_from": "", "init_weights_file": "", "seed": 3, "alpha": "0.75", "bn_momentum": "auto",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_add_form_queues_a_run(admin_client, classify_version, fake_worker, django_capture_on_commit_callbacks):
    assert admin_client.get("/admin/training/trainingrun/add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True) as sent:
        response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, minimalistic="on"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    run = TrainingRun.objects.get()
    assert len(sent) == 1 and run.job.kind == "training.run"
    assert (run.task, run.input_size, run.seed, run.learning_rate) == ("classify", 64, 3, 0.01)
    assert run.options == {"alpha": 0.75, "minimalistic": True, "bn_momentum": "auto", "class_weights": False}
    assert run.project_id == classify_version.project_id and run.created_by.username == "root"
    run.refresh_from_db()
    assert run.job.status == "succeeded"

    listing = admin_client.get("/admin/training/trainingrun/").content.decode()
    assert "succeeded" in listing and "2/2" in listing and "val_accuracy 0.6667" in listing

    page = admin_client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert 'data-testid="epochs"' in page and "val_accuracy" in page
    assert f"/api/training-runs/{run.pk}/plots/confusion_matrix" in page
    assert 'data-testid="variants"' in page and "/api/artifacts/" in page and "converter said no" in page
    assert 'name="_save"' not in page  # read-only


def test_the_add_form_shows_the_services_refusals(admin_client, classify_version, detect_version):
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, input_size=100))
    assert response.status_code == 200 and "steps of 32" in response.content.decode()
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, alpha="3"))
    assert "0.25..1.5" in response.content.decode()
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, task="detect"))
    assert "Detection needs objects with a box" in response.content.decode()
    assert not TrainingRun.objects.exists() and not Job.objects.filter(kind="training.run").exists()


def test_cancel_and_rerun_actions(admin_client, start, fake_worker, classify_version, api, users, project,
                                  django_capture_on_commit_callbacks):
    # A queued run (its job not sent: the on-commit callbacks are not run here).
    queued = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                      {"version": classify_version.pk, "task": "classify", "epochs": 2,
                                       "input_size": 64, "seed": 7, "options": {"alpha": 0.5}}, format="json")
    queued_run = run_of(queued)
    response = admin_client.post("/admin/training/trainingrun/", {
        "action": "cancel_runs", "_selected_action": [queued_run.pk]})
    assert response.status_code == 302
    queued_run.job.refresh_from_db()
    assert queued_run.job.status == "cancelled"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/training/trainingrun/", {
            "action": "rerun_runs", "_selected_action": [queued_run.pk]})
    assert response.status_code == 302
    again = TrainingRun.objects.exclude(pk=queued_run.pk).get()
    for field in ("version_id", "task", "architecture", "input_size", "epochs", "batch_size", "learning_rate",
                  "schedule", "warmup_epochs", "options", "recipe_id", "init_from_id", "seed"):
        assert getattr(again, field) == getattr(queued_run, field), field
    assert again.job_id != queued_run.job_id and again.job.status == "succeeded"


def test_artifacts_are_listed_read_only(admin_client, start, fake_worker, classify_version):
    run = run_of(start(version=classify_version.pk, task="classify", epochs=1, input_size=64))
    page = admin_client.get("/admin/training/modelartifact/").content.decode()
    assert "tflite" in page and "saved_model" in page
    artifact = run.artifacts.get(format="tflite", variant="int8")
    detail = admin_client.get(f"/admin/training/modelartifact/{artifact.pk}/change/").content.decode()
    assert f"/api/artifacts/{artifact.pk}/download" in detail


def test_the_add_form_takes_pruning_and_task_options(admin_client, classify_version, fake_worker,
                                                     django_capture_on_commit_callbacks):
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, pruning="1.5"))
    assert response.status_code == 200 and "pruning sparsity is a number in (0..0.99]" in response.content.decode()
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, keypoint_label="face"))
    assert "keypoint_label is an option of keypoints runs" in response.content.decode()
    assert not TrainingRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, pruning="0.5"))
    assert response.status_code == 302
    assert TrainingRun.objects.get().options["pruning"] == {"sparsity": 0.5, "begin": 0.0, "end": 0.8}
    response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, ema="0.995", pruning="0.5"))
    assert "(ema) and pruning do not mix" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/training/trainingrun/add/", form_data(classify_version, ema="0.995"))
    assert response.status_code == 302
    assert TrainingRun.objects.order_by("pk").last().options["ema"] == 0.995
