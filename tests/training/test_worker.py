"""With a real Celery worker process (the train queue) and the fake training process: a run goes
through end to end, and a cancel stops the process mid-run and keeps the history so far."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jobs.models import Job
from tests.conftest import wait_for
from training.models import TrainingRun

from .conftest import FAKE_WORKER

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def train_worker(classify_version, monkeypatch, request):
    """A real worker whose runs use the fake training process (the version is built before it starts)."""

    def start(*options: str):
        monkeypatch.setenv("TRAINING_WORKER_COMMAND", " ".join([sys.executable, str(FAKE_WORKER), *options]))
        return request.getfixturevalue("celery_worker")

    return start


def training_processes(run: TrainingRun) -> list[int]:
    marker = str(run.folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"fake_worker.py" in cmdline and marker in cmdline:
                found.append(int(entry.name))
    return found


def post_run(api, users, project, version, **body):
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/training-runs/",
                                        {"version": version.pk, "task": "classify", "input_size": 64, **body},
                                        format="json")
    assert response.status_code == 202, response.content
    return TrainingRun.objects.get(pk=response.json()["id"])


def test_a_run_in_a_real_train_worker(train_worker, api, users, project, classify_version):
    train_worker()
    run = post_run(api, users, project, classify_version, epochs=3)
    job = wait_for(lambda: Job.objects.filter(pk=run.job_id, status__in=Job.TERMINAL).first(), timeout=120)
    assert job.status == "succeeded", (job.error, job.log)
    assert job.worker
    run.refresh_from_db()
    assert [e["epoch"] for e in run.history] == [1, 2, 3] and run.artifacts.count() == 5


def test_cancel_stops_the_process_and_keeps_the_history(train_worker, api, users, project, classify_version):
    train_worker("--slow", "0.3")
    run = post_run(api, users, project, classify_version, epochs=30)
    wait_for(lambda: len(TrainingRun.objects.get(pk=run.pk).history) >= 2, timeout=120, every=0.1)
    assert training_processes(run)
    detail = api(users["viewer"]).get(f"/api/training-runs/{run.pk}/").json()
    assert detail["status"] == "running" and 0 < detail["progress"] < 1 and detail["epochs_done"] >= 2
    response = api(users["owner"]).post(f"/api/jobs/{run.job_id}/cancel")
    assert response.status_code == 202
    job = wait_for(lambda: Job.objects.filter(pk=run.job_id, status__in=Job.TERMINAL).first(), timeout=60)
    assert job.status == "cancelled"
    run.refresh_from_db()
    assert 2 <= len(run.history) < 30
    wait_for(lambda: not training_processes(run), timeout=10)
