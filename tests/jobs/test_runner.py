from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.runner import JobError, run_job


@pytest.fixture
def job(users, project):
    return services.job_create(kind="test.work", created_by=users["owner"], project=project)


def test_success_records_result_and_progress(job):
    def work(ctx):
        ctx.progress(0.5, "halfway")
        ctx.log("did something")
        return {"answer": 42}

    run_job(job.pk, work)
    job.refresh_from_db()
    assert (job.status, job.progress, job.result) == ("succeeded", 1.0, {"answer": 42})
    assert "did something" in job.log and job.started_at and job.finished_at


def test_expected_error_fails_with_the_users_message(job):
    def work(ctx):
        raise JobError("The archive holds no images.")

    run_job(job.pk, work)
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "The archive holds no images.")


def test_ctrl_c_marks_the_job_cancelled_and_still_stops(job):
    def work(ctx):
        ctx.progress(0.3, "working")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(job.pk, work)
    job.refresh_from_db()
    assert (job.status, job.message, job.progress) == ("cancelled", "Interrupted", 0.3)
    assert job.finished_at is not None


def test_a_bug_fails_the_job_with_a_short_reason_and_the_trace_in_the_log(job):
    def work(ctx):
        return 1 / 0

    run_job(job.pk, work)
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Internal error (ZeroDivisionError)")
    assert "Traceback" in job.log


def test_cancel_is_honoured_at_the_next_progress_report(job):
    def work(ctx):
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        ctx.progress(0.1, "step")
        raise AssertionError("not reached")

    run_job(job.pk, work)
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_a_finished_or_cancelled_job_does_not_run_again(job):
    services.job_cancel(job=job)
    ran = []
    run_job(job.pk, lambda ctx: ran.append(1))
    job.refresh_from_db()
    assert ran == [] and job.status == "cancelled"


def test_sweep_marks_jobs_with_a_silent_heartbeat_failed(job, users):
    alive = services.job_create(kind="test.work", created_by=users["owner"])
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=now - timedelta(minutes=10), worker="w1")
    Job.objects.filter(pk=alive.pk).update(status="running", heartbeat_at=now)
    assert services.jobs_sweep_stale(stale_after=120) == 1
    job.refresh_from_db()
    alive.refresh_from_db()
    assert job.status == "failed" and "stopped responding" in job.error and "w1" in job.error
    assert alive.status == "running"
