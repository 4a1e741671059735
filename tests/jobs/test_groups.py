"""Parent/child job groups: the parent mirrors its children (weighted progress, status, errors,
result), a cancel of the parent cancels the queued children at once and the running ones at their
next report, and the sweep judges children, not parents."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job
from jobs.runner import JobContext, run_job

services.register_group(
    "tests.groups.parent", result=lambda parent, children: {"children": [c.pk for c in children]},
    child_name="piece", running_verb="cooking",
)


@pytest.fixture
def group(users, project):
    parent = services.job_create(kind="tests.groups.parent", created_by=users["owner"], project=project)
    first = services.job_create(kind="tests.groups.child", parent=parent, weight=1)
    second = services.job_create(kind="tests.groups.child", parent=parent, weight=3)
    return parent, first, second


def fresh(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_progress_is_the_weighted_mean_and_status_follows_the_children(group):
    parent, first, second = group
    services.job_start(job=first)
    assert fresh(parent).status == Job.Status.RUNNING and fresh(parent).message == "1 piece(s) cooking"
    services.job_report(job=first, progress=0.5)
    assert fresh(parent).progress == pytest.approx(0.5 / 4)
    services.job_succeed(job=first, result={})
    parent = fresh(parent)
    assert parent.status == Job.Status.QUEUED and parent.progress == pytest.approx(0.25)  # between children
    services.job_start(job=second)
    services.job_report(job=second, progress=0.5)
    assert fresh(parent).progress == pytest.approx((1 + 1.5) / 4)
    services.job_succeed(job=second, result={})
    parent = fresh(parent)
    assert (parent.status, parent.progress, parent.message) == (Job.Status.SUCCEEDED, 1.0, "Done")
    assert parent.result == {"children": [first.pk, second.pk]} and parent.finished_at and parent.started_at


def test_the_group_fails_once_its_children_have_ended_with_their_errors(group):
    parent, first, second = group
    services.job_start(job=first)
    services.job_fail(job=first, error="The disk is full.")
    assert fresh(parent).status == Job.Status.QUEUED  # the other child still gets its turn
    services.job_start(job=second)
    services.job_succeed(job=second, result={})
    parent = fresh(parent)
    assert parent.status == Job.Status.FAILED and parent.error == "Piece 0: The disk is full."
    assert parent.result == {"children": [first.pk, second.pk]}


def test_cancel_ends_queued_children_at_once_and_running_ones_at_their_next_report(api, users, group):
    parent, first, second = group
    seen = []

    def work(ctx: JobContext):
        response = api(users["owner"]).post(f"/api/jobs/{parent.pk}/cancel")  # while this child runs
        seen.append((response.status_code, response.json()["status"], fresh(second).status))
        ctx.progress(0.5, "still going")
        raise AssertionError("not reached")

    run_job(first.pk, work)
    assert seen == [(202, "running", Job.Status.CANCELLED)]
    assert fresh(first).status == Job.Status.CANCELLED and fresh(second).message == "Cancelled before it started"
    parent = fresh(parent)
    assert parent.status == Job.Status.CANCELLED and parent.message == "Cancelled"
    run_job(second.pk, lambda ctx: pytest.fail("a cancelled child must not run"))
    assert api(users["owner"]).post(f"/api/jobs/{parent.pk}/cancel").status_code == 409


def test_cancelling_a_waiting_group_ends_it_at_once(group):
    parent, first, second = group
    parent = services.job_group_cancel(parent=parent)
    assert parent.status == Job.Status.CANCELLED
    assert {fresh(first).status, fresh(second).status} == {Job.Status.CANCELLED}
    with pytest.raises(services.JobAlreadyFinished):
        services.job_group_cancel(parent=parent)


def test_a_stale_child_is_swept_and_its_parent_follows(group):
    parent, first, second = group
    services.job_start(job=first)
    services.job_start(job=second)
    services.job_succeed(job=second, result={})
    old = timezone.now() - timedelta(minutes=10)
    Job.objects.filter(pk__in=[first.pk, parent.pk]).update(heartbeat_at=old)
    assert services.jobs_sweep_stale(stale_after=60) == 1  # the child, not the parent
    parent = fresh(parent)
    assert parent.status == Job.Status.FAILED and "Piece 0: The worker running this job stopped" in parent.error


def test_a_retried_child_puts_its_parent_back_in_the_queue(group):
    parent, first, _second = group
    services.job_start(job=first)
    assert services.job_retry(job=first, reason="Blender crashed")
    assert fresh(first).status == Job.Status.QUEUED and fresh(first).message == "Retrying after: Blender crashed"
    assert fresh(parent).status == Job.Status.QUEUED
    Job.objects.filter(pk=first.pk).update(cancel_requested=True)
    services.job_start(job=first)
    assert not services.job_retry(job=first, reason="again")  # a cancelled job is not retried
    assert fresh(first).status == Job.Status.RUNNING


def test_a_result_set_before_the_end_is_kept_when_the_job_fails(users):
    job = services.job_create(kind="tests.groups.child", created_by=users["owner"])
    services.job_start(job=job)
    services.job_set_result(job=job, result={"problems": ["a.jpg: broken"]})
    services.job_fail(job=job, error="Refused")
    assert fresh(job).result == {"problems": ["a.jpg: broken"]} and fresh(job).status == Job.Status.FAILED
