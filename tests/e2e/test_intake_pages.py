"""The upload, import and jobs pages in the browser: dropped files get the server's verdict each,
a zip's job is followed to its result, a dataset import shows its summary or its problem table,
and the jobs page follows and cancels the project's jobs."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from annotate.imaging import ImageRejected, check_image_bytes
from annotate.models import Image
from jobs.models import Job
from jobs.services import job_create
from tests.conftest import image_bytes
from tests.export.import_fixtures import coco_box, coco_dataset, zip_bytes
from tests.jpeg_cuts import broken_cuts, jpeg, marker_missing

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def open_page(pages, user, path):
    page = pages.open(user, path, ready=False)
    page.wait_for_selector("body[data-ready='1']")
    return page


def drop(page, files: list[tuple[str, bytes, str]], target: str = "[data-testid=dropzone]") -> None:
    """Drop ``(name, bytes, mime)`` files on ``target`` as a user dragging them from the desktop would."""
    payload = [{"name": n, "data": base64.b64encode(d).decode(), "type": t} for n, d, t in files]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return dt;
        }""",
        payload,
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(target, event, {"dataTransfer": transfer})


def row(page, name):
    return page.locator(f"[data-testid=upload-row][data-name='{name}']")


def rejection(data: bytes) -> str:
    try:
        check_image_bytes(data)
    except ImageRejected as exc:
        return str(exc)
    raise AssertionError("expected the image to be refused")


def test_dropped_files_get_a_verdict_each(pages, users, project, add_images):
    existing = add_images(1)[0]  # img_0.jpg: the bytes of image_bytes(seed=0)
    broken = broken_cuts(jpeg(seed=4))["mid-scan-50%"]
    page = open_page(pages, users["annotator"], f"/projects/{project.pk}/upload/")
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text(f"Projects › {project.name} › Upload")
    drop(page, [
        ("new.jpg", image_bytes(seed=7), "image/jpeg"),
        ("again.jpg", image_bytes(seed=0), "image/jpeg"),
        ("broken.jpg", broken, "image/jpeg"),
        ("cut.jpg", marker_missing(jpeg(seed=3)), "image/jpeg"),
    ])
    verdict = lambda name: row(page, name).get_by_test_id("verdict")  # noqa: E731
    expect(verdict("new.jpg")).to_have_attribute("data-state", "stored")
    expect(verdict("again.jpg")).to_have_attribute("data-state", "duplicate")
    expect(verdict("again.jpg")).to_contain_text(f"img_0.jpg (#{existing.pk})")
    expect(verdict("broken.jpg")).to_have_attribute("data-state", "refused")
    expect(verdict("broken.jpg")).to_contain_text(rejection(broken))
    expect(verdict("cut.jpg")).to_have_attribute("data-state", "repaired")
    expect(verdict("cut.jpg")).to_contain_text("end-of-image marker added")
    expect(row(page, "new.jpg").get_by_test_id("upload-progress")).to_have_attribute("value", "1")
    assert set(Image.objects.filter(project=project).values_list("original_name", flat=True)) == {
        "img_0.jpg", "new.jpg", "cut.jpg"}
    assert not page.errors


def test_a_zip_is_followed_to_its_result(pages, users, project):
    broken = broken_cuts(jpeg(seed=4))["mid-scan-50%"]
    archive = zip_bytes({"a.jpg": image_bytes(seed=1), "b.jpg": image_bytes(seed=2), "bad.jpg": broken,
                         "README.txt": "hello"})
    page = open_page(pages, users["annotator"], f"/projects/{project.pk}/upload/")
    drop(page, [("first.zip", archive, "application/zip")])
    first = row(page, "first.zip").get_by_test_id("verdict")
    expect(first).to_have_attribute("data-state", "failed")
    expect(first).to_contain_text("skip_broken")
    assert not Image.objects.filter(project=project).exists()

    page.get_by_test_id("skip-broken").check()
    drop(page, [("second.zip", archive, "application/zip")])
    second = row(page, "second.zip").get_by_test_id("verdict")
    expect(second).to_have_attribute("data-state", "done")
    expect(second.get_by_test_id("zip-summary")).to_contain_text("2 stored")
    expect(second.locator("[data-testid=zip-skipped][data-file='bad.jpg']")).to_contain_text(rejection(broken))
    expect(second.locator("[data-testid=zip-skipped][data-file='README.txt']")).to_contain_text("skipped")
    assert Image.objects.filter(project=project).count() == 2
    assert not page.errors


def test_import_shows_the_summary_or_the_problem_table(pages, users, project, tmp_path):
    page = open_page(pages, users["owner"], f"/projects/{project.pk}/import/")
    good = tmp_path / "good.zip"
    good.write_bytes(zip_bytes(coco_dataset()))
    page.get_by_test_id("import-file").set_input_files(str(good))
    page.get_by_test_id("import-format").select_option("coco")
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-summary")).to_be_visible()
    expect(page.get_by_test_id("summary-images")).to_contain_text("1")
    expect(page.get_by_test_id("summary-annotations")).to_contain_text("1 box")
    expect(page.get_by_test_id("summary-labels")).to_contain_text("cat")
    expect(page.get_by_test_id("import-status")).to_have_text("succeeded")

    bad = tmp_path / "bad.zip"  # a box far outside its 64x48 image, and an entry whose image is missing
    dataset = coco_dataset(annotations=[coco_box(1, 1, 7, [50, 4, 40, 10])])
    dataset["annotations/instances_train.json"] = dataset["annotations/instances_train.json"].replace(
        '"images": [', '"images": [{"id": 2, "file_name": "missing.jpg", "width": 64, "height": 48}, ')
    bad.write_bytes(zip_bytes(dataset))
    page.get_by_test_id("import-file").set_input_files(str(bad))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-problems")).to_be_visible()
    expect(page.get_by_test_id("import-summary")).to_be_hidden()
    job = Job.objects.filter(project=project, status="failed").get()
    problems = job.result["problems"]
    assert len(problems) >= 2
    table = page.get_by_test_id("problem-row")
    expect(table).to_have_count(len(problems))
    for i, problem in enumerate(problems):
        expect(table.nth(i).get_by_test_id("problem-file")).to_have_text(problem["file"] or "—")
        expect(table.nth(i).get_by_test_id("problem-message")).to_have_text(problem["message"])
    expect(page.get_by_test_id("import-problem-count")).to_contain_text(f"{job.result['problem_count']} problem(s)")
    assert not page.errors


def test_broken_images_in_an_import_get_the_skip_broken_hint(pages, users, project, tmp_path):
    dataset = coco_dataset()
    dataset["images/a.jpg"] = broken_cuts(jpeg(seed=4, width=64, height=48))["mid-scan-50%"]
    path = tmp_path / "broken.zip"
    path.write_bytes(zip_bytes(dataset))
    page = open_page(pages, users["owner"], f"/projects/{project.pk}/import/")
    page.get_by_test_id("import-file").set_input_files(str(path))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-hint")).to_contain_text("skip_broken")
    expect(page.get_by_test_id("problem-file").first).to_contain_text("a.jpg")


def test_jobs_page_follows_and_cancels(pages, users, project):
    done = job_create(kind="images.upload_zip", created_by=users["owner"], project=project)
    Job.objects.filter(pk=done.pk).update(status="failed", error="The archive is not a zip.", message="Failed")
    queued = job_create(kind="export.import_dataset", created_by=users["owner"], project=project)
    running = job_create(kind="images.upload_zip", created_by=users["owner"], project=project)
    Job.objects.filter(pk=running.pk).update(status="running", progress=0.25, message="Checking a.jpg")
    job_create(kind="other", created_by=users["owner"])  # of no project: not listed

    theirs = job_create(kind="images.upload_zip", created_by=users["annotator"], project=project)

    # An annotator may cancel their own job only: the owner's have no Cancel button.
    page = open_page(pages, users["annotator"], f"/projects/{project.pk}/jobs/")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_have_attribute("data-job-id", str(running.pk))  # newest first
    expect(rows.nth(3).get_by_test_id("job-error")).to_have_text("The archive is not a zip.")
    mine = page.locator(f"[data-testid=job-row][data-job-id='{running.pk}']")
    expect(mine.get_by_test_id("job-progress")).to_have_text("25%")
    expect(mine.get_by_test_id("job-message")).to_have_text("Checking a.jpg")
    Job.objects.filter(pk=running.pk).update(progress=0.6, message="Checking b.jpg")  # live progress
    expect(mine.get_by_test_id("job-progress")).to_have_text("60%")
    expect(mine.get_by_test_id("job-message")).to_have_text("Checking b.jpg")
    expect(page.get_by_test_id("job-cancel")).to_have_count(1)
    own = page.locator(f"[data-testid=job-row][data-job-id='{theirs.pk}']")
    own.get_by_test_id("job-cancel").click()
    expect(own).to_have_attribute("data-status", "cancelled")
    assert Job.objects.get(pk=theirs.pk).status == "cancelled"
    assert Job.objects.get(pk=queued.pk).status == "queued"

    # A viewer is offered no Cancel at all (the API refuses it too, see test_permissions).
    viewer = open_page(pages, users["viewer"], f"/projects/{project.pk}/jobs/")
    expect(viewer.get_by_test_id("job-row")).to_have_count(4)
    expect(viewer.get_by_test_id("job-cancel")).to_have_count(0)

    owner = open_page(pages, users["owner"], f"/projects/{project.pk}/jobs/")
    waiting = owner.locator(f"[data-testid=job-row][data-job-id='{queued.pk}']")
    waiting.get_by_test_id("job-cancel").click()
    expect(waiting).to_have_attribute("data-status", "cancelled")
    expect(waiting.get_by_test_id("job-cancel")).to_have_count(0)
    assert Job.objects.get(pk=queued.pk).status == "cancelled"
    Job.objects.filter(pk=running.pk).update(status="succeeded", progress=1.0, message="Done")
    expect(owner.locator(f"[data-testid=job-row][data-job-id='{running.pk}']")).to_have_attribute("data-status", "succeeded")
    assert not page.errors and not owner.errors and not viewer.errors
