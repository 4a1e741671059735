"""Starting a corruption job: one job per setting at a time, even for two requests at once (the
check and the new job happen under a lock on the project; run on PostgreSQL as well as SQLite)."""

import threading
import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from augment import selectors, services
from jobs import registry
from jobs.models import Job

BODY = {"profile": "cheap-lens", "severity": 2, "split": "test", "seed": 0}


def test_corruption_start_queues_one_job_per_setting(users, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        job = services.corruption_start(project=project, user=users["owner"], **BODY)
    assert job.kind == "augment.corruption" and job.params == BODY and len(sent) == 1
    with pytest.raises(services.CorruptionRunning) as running:
        services.corruption_start(project=project, user=users["owner"], **BODY)
    assert running.value.job == job
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
    assert services.corruption_start(project=project, user=users["owner"], **BODY).pk != job.pk  # it has ended


@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_make_one_job_and_a_409(users, project, monkeypatch):
    sent = []
    monkeypatch.setattr(registry, "job_send", lambda **kwargs: sent.append(kwargs))  # nothing runs, so none ends
    check = selectors.corruption_job_in_progress

    def slow_check(**kwargs):
        found = check(**kwargs)
        time.sleep(0.5)  # a window wide enough for the other request to pass an unlocked check too
        return found

    monkeypatch.setattr(selectors, "corruption_job_in_progress", slow_check)
    barrier = threading.Barrier(2)
    responses: list = []

    def post() -> None:
        client = APIClient()
        client.force_authenticate(users["owner"])
        barrier.wait()
        try:
            responses.append(client.post(f"/api/projects/{project.pk}/corruptions", BODY, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in responses) == [202, 409], [r.content for r in responses]
    job = Job.objects.get(kind="augment.corruption")
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.json() == {"detail": "The same corruption is already being built; follow that job.", "job": job.pk}
    assert [s["job_id"] for s in sent] == [job.pk]
