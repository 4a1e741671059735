"""The kind -> task registry: every kind is a task named after it, on its queue; job_submit refuses
unknown kinds, sends on commit, and crashed attempts are retried as the kind allows."""

import time

import pytest

from jobs import registry, services
from jobs.models import Job
from jobs.registry import UnknownJobKind, job_task
from jobs.runner import JobError

CRASHES: dict[int, int] = {}  # job id -> attempts that crash


@job_task("tests.jobs.echo", queue="train")
def echo(job, ctx):
    ctx.progress(0.5, "halfway")
    return {"params": job.params, "project": job.project_id, "user": job.created_by.username}


@job_task("tests.jobs.flaky", retries=2, retry_delay=0.01)
def flaky(job, ctx):
    if job.attempts <= CRASHES.get(job.pk, 0):
        raise RuntimeError(f"crash on attempt {job.attempts}")
    return {"attempts": job.attempts}


@job_task("tests.jobs.refuses", retries=3)
def refuses(job, ctx):
    raise JobError("The input is wrong.")


@job_task("tests.jobs.only_os_errors", retries=3, retry_on=(OSError,))
def only_os_errors(job, ctx):
    raise ValueError("not an OSError")


def test_every_kind_is_a_late_acked_task_named_after_it():
    kinds = registry.job_kinds()
    for kind in ("images.upload_zip", "augment.corruption", "export.version_build", "export.export",
                 "export.import_dataset", "synth.shard"):
        assert kinds[kind].task.name == kind and kinds[kind].task.acks_late
    assert all(name == entry.task.name for name, entry in kinds.items())


def test_queues_come_from_the_registry():
    from config.celery import app

    kinds = registry.job_kinds()
    assert kinds["synth.shard"].queue == "render" and kinds["export.export"].queue == "default"
    for kind, queue in (("synth.shard", "render"), ("images.upload_zip", "default"), ("tests.jobs.echo", "train")):
        task = kinds[kind].task
        # What Celery routes a plain task.delay() to, and what job_send asks for.
        assert app.amqp.router.route(dict(task._get_exec_options()), task.name)["queue"].name == queue


def test_job_send_asks_for_the_kinds_queue(monkeypatch):
    sent = []
    monkeypatch.setattr(registry.job_task_for("synth.shard").task, "apply_async",
                        lambda args, **options: sent.append((args, options)))
    registry.job_send(job_id=7, kind="synth.shard", task_id="abc")
    assert sent == [([7], {"queue": "render", "task_id": "abc"})]


def test_an_unknown_queue_or_a_kind_registered_twice_is_refused():
    with pytest.raises(ValueError, match="Unknown queue"):
        job_task("tests.jobs.nowhere", queue="gpu")
    with pytest.raises(ValueError, match="already registered"):
        job_task("tests.jobs.echo")(lambda job, ctx: None)


def test_an_unknown_kind_is_refused_and_nothing_is_written(users, project):
    with pytest.raises(UnknownJobKind, match="no.such.kind"):
        services.job_submit(kind="no.such.kind", created_by=users["owner"], project=project)
    assert not Job.objects.exists()
    job = services.job_create(kind="no.such.kind")
    with pytest.raises(UnknownJobKind):
        services.job_enqueue(job=job)


def test_job_submit_sends_on_commit_and_the_task_runs_the_kind(users, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.job_submit(kind="tests.jobs.echo", created_by=users["owner"], project=project, params={"n": 3})
    assert len(callbacks) == 1 and job.celery_task_id
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED  # nothing was sent before the commit
    callbacks[0]()  # the commit: sent, and run eagerly here
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error, job.log)
    assert job.result == {"params": {"n": 3}, "project": project.pk, "user": "owner"} and job.attempts == 1


def test_a_task_runs_an_existing_job_by_id(users):
    job = services.job_create(kind="tests.jobs.echo", created_by=users["owner"])
    echo.delay(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


def submit(kind, users, django_capture_on_commit_callbacks, crashes=0, parent=None):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(kind=kind, created_by=users["owner"], parent=parent)
        CRASHES[job.pk] = crashes
        services.job_enqueue(job=job)
    job.refresh_from_db()
    return job


def test_a_crashed_attempt_is_retried_and_the_job_goes_on(users, django_capture_on_commit_callbacks):
    start = time.monotonic()
    job = submit("tests.jobs.flaky", users, django_capture_on_commit_callbacks, crashes=2)
    assert job.status == Job.Status.SUCCEEDED and job.result == {"attempts": 3} and job.attempts == 3
    assert job.log.count("RuntimeError: crash on attempt") == 2  # both crashes are on record
    assert job.error == "" and time.monotonic() - start < 30


def test_retries_run_out_and_the_job_fails(users, django_capture_on_commit_callbacks):
    job = submit("tests.jobs.flaky", users, django_capture_on_commit_callbacks, crashes=5)
    assert job.status == Job.Status.FAILED and job.attempts == 3
    assert job.error == "Internal error (RuntimeError): crash on attempt 3"


def test_expected_errors_and_exceptions_outside_retry_on_are_not_retried(users, django_capture_on_commit_callbacks):
    job = submit("tests.jobs.refuses", users, django_capture_on_commit_callbacks)
    assert (job.status, job.error, job.attempts) == (Job.Status.FAILED, "The input is wrong.", 1)
    job = submit("tests.jobs.only_os_errors", users, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and job.attempts == 1 and "ValueError" in job.error


def test_a_retried_child_keeps_its_group_going(users, django_capture_on_commit_callbacks, monkeypatch):
    parent = services.job_create(kind="tests.jobs.group", created_by=users["owner"])
    seen = []
    original = services.job_retry

    def retry(*, job, reason):
        retried = original(job=job, reason=reason)
        seen.append((Job.objects.get(pk=job.pk).status, Job.objects.get(pk=parent.pk).status))
        return retried

    monkeypatch.setattr(services, "job_retry", retry)
    child = submit("tests.jobs.flaky", users, django_capture_on_commit_callbacks, crashes=1, parent=parent)
    assert seen == [(Job.Status.QUEUED, Job.Status.QUEUED)]  # back in the queue; the group never failed
    assert child.status == Job.Status.SUCCEEDED and child.message.startswith("Done")
    parent.refresh_from_db()
    assert parent.status == Job.Status.SUCCEEDED and parent.progress == 1.0
