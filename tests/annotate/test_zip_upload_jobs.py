"""Zip uploads: ``skip_broken``, members refused by their declared size, and the spooled archive
removed however the job ends (plus the sweep of the ones no job will read)."""

import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import Image
from annotate.tasks import sweep_spooled_archives, upload_zip
from annotate.uploads import images_upload_zip_start, spooled_archives_sweep
from jobs.models import Job
from jobs.services import job_create
from tests.annotate.test_archives import claim_size
from tests.conftest import image_bytes
from tests.jpeg_cuts import broken_cuts, jpeg, marker_missing

DAY = 24 * 3600


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def post_zip(api, users, project, django_capture_on_commit_callbacks):
    """``post_zip(archive, **fields)`` → the job (refreshed) after it ran."""

    def post(archive: bytes, **fields) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            response = api(users["owner"]).post(
                f"/api/projects/{project.pk}/images/zip", {"file": upload("batch.zip", archive), **fields}
            )
        assert response.status_code == 202, response.content
        return Job.objects.get(pk=response.json()["id"])

    return post


def _mixed_archive() -> bytes:
    return make_zip({
        "ok.jpg": image_bytes(seed=1),
        "no-eoi.jpg": marker_missing(jpeg(256, 192, seed=2)),
        "cut.jpg": broken_cuts(jpeg(256, 192, seed=3))["mid-scan-50%"],
        "header.jpg": broken_cuts(jpeg(256, 192, seed=4))["in-the-header"],
        "README.txt": b"hello",
    })


def test_without_skip_broken_nothing_is_added_and_the_error_names_the_option(post_zip, project):
    job = post_zip(_mixed_archive())
    assert job.status == "failed"
    assert job.error.startswith("2 broken image(s) in the archive, so none were added (send skip_broken=1")
    assert "cut.jpg: The image is damaged or truncated" in job.error and "header.jpg" in job.error
    assert not Image.objects.filter(project=project).exists()
    assert not Path(job.params["path"]).exists()


def test_skip_broken_adds_the_rest_and_lists_what_it_left_out(post_zip, project):
    job = post_zip(_mixed_archive(), skip_broken="1")
    assert job.status == "succeeded", job.error
    assert job.params["skip_broken"] is True
    result = job.result
    assert result["created"] == 2 and result["repaired"] == ["no-eoi.jpg"]
    assert [s["file"] for s in result["skipped"]] == ["cut.jpg", "header.jpg", "README.txt"]
    assert "damaged or truncated" in result["skipped"][0]["reason"]
    assert "not an image" in result["skipped"][2]["reason"] and result["skipped_count"] == 3
    assert sorted(Image.objects.filter(project=project).values_list("original_name", flat=True)) == ["no-eoi.jpg", "ok.jpg"]
    assert not Path(job.params["path"]).exists()


def test_skip_broken_with_every_image_broken_fails(post_zip, project):
    job = post_zip(make_zip({"cut.jpg": broken_cuts(jpeg(seed=3))["mid-scan-10%"]}), skip_broken="1")
    assert job.status == "failed" and job.error == "Every image in the archive is broken."
    assert not Image.objects.filter(project=project).exists()


def test_a_member_claiming_a_huge_size_is_refused_unread(post_zip, project):
    archive = claim_size(make_zip({"ok.jpg": image_bytes(seed=1), "huge.jpg": b"x" * 2000}), "huge.jpg", 1024**3)
    job = post_zip(archive)
    assert job.status == "failed"
    assert (
        f"'huge.jpg' is 1,073,741,824 bytes once uncompressed; the limit is {django_settings.IMAGE_MAX_BYTES:,}; "
        "it was not read" in job.error
    )
    job = post_zip(archive, skip_broken="1")
    assert job.status == "succeeded" and [s["file"] for s in job.result["skipped"]] == ["huge.jpg"]
    assert Image.objects.filter(project=project).count() == 1


def test_an_honest_big_member_is_refused_by_its_declared_size(post_zip, settings):
    settings.IMAGE_MAX_BYTES = 100_000
    archive = make_zip({"ok.jpg": image_bytes(seed=1), "zeros.jpg": b"\0" * 3_000_000})
    assert len(archive) < 50_000
    job = post_zip(archive)
    assert job.status == "failed" and "'zeros.jpg' is 3,000,000 bytes once uncompressed; the limit is 100,000" in job.error


def test_a_bad_skip_broken_value_is_400(api, users, project):
    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/images/zip",
        {"file": upload("b.zip", make_zip({"ok.jpg": image_bytes(seed=1)})), "skip_broken": "perhaps"},
    )
    assert response.status_code == 400 and "skip_broken" in response.json()
    assert not project.jobs.exists()


# --- the spooled archive never outlives its job ---------------------------------------------
def test_the_archive_is_removed_after_success(post_zip):
    job = post_zip(make_zip({"ok.jpg": image_bytes(seed=1)}))
    assert job.status == "succeeded" and not Path(job.params["path"]).exists()


def test_the_archive_is_removed_after_a_failure(post_zip):
    job = post_zip(make_zip({"README.txt": b"no images"}))
    assert job.status == "failed" and job.error == "The archive holds no images."
    assert not Path(job.params["path"]).exists()


def test_the_archive_is_removed_when_the_job_is_cancelled(project, users):
    job = images_upload_zip_start(
        project=project, upload=upload("c.zip", make_zip({"ok.jpg": image_bytes(seed=1)})), user=users["owner"]
    )  # queued, not sent: the test's transaction never commits
    path = Path(job.params["path"])
    assert path.exists() and path.parent == Path(django_settings.DATA_DIR) / "uploads"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, cancel_requested=True)
    upload_zip.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "cancelled" and not path.exists()
    assert not Image.objects.filter(project=project).exists()


def _spooled(folder: str, name: str, age: float) -> Path:
    path = Path(django_settings.DATA_DIR) / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK spooled")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_the_sweep_removes_old_orphans_and_keeps_new_and_waiting_archives(project):
    old = _spooled("uploads", "sweep-old.zip", 2 * DAY)
    old_import = _spooled("imports", "sweep-old-import.zip", 2 * DAY)
    new = _spooled("uploads", "sweep-new.zip", 3600)
    waiting = _spooled("uploads", "sweep-waiting.zip", 3 * DAY)
    job_create(kind="images.upload_zip", project=project, params={"path": str(waiting)})  # queued, still to run
    finished = _spooled("uploads", "sweep-finished.zip", 3 * DAY)
    done = job_create(kind="images.upload_zip", project=project, params={"path": str(finished)})
    Job.objects.filter(pk=done.pk).update(status=Job.Status.CANCELLED)  # cancelled before it ran: never removes it

    removed = spooled_archives_sweep()
    assert set(removed) == {old, old_import, finished}
    assert not old.exists() and not old_import.exists() and not finished.exists()
    assert new.exists() and waiting.exists()
    new.unlink()
    waiting.unlink()


def test_the_sweep_is_a_periodic_task(project):
    orphan = _spooled("uploads", "sweep-task.zip", 2 * DAY)
    assert sweep_spooled_archives.apply().get() >= 1
    assert not orphan.exists()
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "annotate.sweep_spooled_archives" in scheduled


def _upright_needed_jpeg() -> bytes:
    """A JPEG whose EXIF says to turn it: the check re-encodes it upright, so its stored bytes differ."""
    from PIL import Image as PILImage

    picture = PILImage.new("RGB", (60, 20), (255, 0, 0))
    exif = PILImage.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def test_images_over_the_memory_budget_are_read_again_and_stored_as_checked(post_zip, project, monkeypatch):
    """With no bytes kept in memory between checking and storing, every image is read from the
    archive again when stored: the stored files and rows are what the check made of each member
    (turned upright, repaired), duplicates are still one image."""
    from annotate import storage, uploads
    from annotate.imaging import check_image_bytes

    monkeypatch.setattr(uploads, "KEEP_IMAGE_BYTES", 0)
    members = {
        "plain.jpg": image_bytes(seed=11),
        "again.jpg": image_bytes(seed=11),
        "drawing.png": image_bytes(seed=12, fmt="PNG"),
        "turned.jpg": _upright_needed_jpeg(),
        "no-eoi.jpg": marker_missing(jpeg(128, 96, seed=13)),
    }
    job = post_zip(make_zip(members))
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 4 and job.result["repaired"] == ["no-eoi.jpg"]
    for name, data in members.items():
        expected = check_image_bytes(data)
        twins = ["plain.jpg", "again.jpg"] if name in ("plain.jpg", "again.jpg") else [name]  # one image of the two
        row = Image.objects.get(project=project, original_name__in=twins)
        assert (row.sha256, row.width, row.height, row.size_bytes) == (
            expected.sha256, expected.width, expected.height, len(expected.data)
        ), name
        assert storage.media_path(str(row.file)).read_bytes() == expected.data, name
    assert Image.objects.get(original_name="turned.jpg").width == 20  # upright: 20 x 60


def test_a_zip_upload_holds_at_most_the_budget_of_image_bytes(
    api, users, project, django_capture_on_commit_callbacks, monkeypatch
):
    """Peak Python memory of the job adding a zip of ~8 MB of incompressible images with a 1 MB
    budget stays far below the archive's image bytes (holding every checked image would not)."""
    import tracemalloc

    import numpy as np
    from PIL import Image as PILImage

    from annotate import uploads

    monkeypatch.setattr(uploads, "KEEP_IMAGE_BYTES", 1_000_000)
    rng = np.random.default_rng(0)
    members = {}
    for i in range(16):
        out = io.BytesIO()
        PILImage.fromarray(rng.integers(0, 256, (300, 600, 3), dtype="uint8")).save(out, "PNG")
        members[f"noise_{i}.png"] = out.getvalue()
    total = sum(len(v) for v in members.values())
    assert total > 8_000_000
    with django_capture_on_commit_callbacks() as callbacks:  # the request queues the job; it runs below
        response = api(users["owner"]).post(
            f"/api/projects/{project.pk}/images/zip", {"file": upload("batch.zip", make_zip(members))}
        )
    assert response.status_code == 202, response.content
    tracemalloc.start()
    try:
        for callback in callbacks:
            callback()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 16
    # One member at a time (read, checked, re-read when stored) plus the 1 MB budget.
    assert peak < total / 2, (peak, total)
