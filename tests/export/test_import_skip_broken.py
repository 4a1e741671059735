"""Dataset imports and broken files: JPEGs missing only their EOI are repaired, ``skip_broken``
imports the rest (listing what it left out), and every file's read is capped."""

import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Annotation, Image
from annotate.storage import media_path
from export.dataset_import import dataset_import
from export.dataset_importers.common import ImportRefused, dataset_files_open
from jobs.models import Job
from tests.annotate.test_archives import claim_size
from tests.export.import_fixtures import (
    coco_box,
    coco_image,
    coco_json,
    jpeg,
    project_counts,
    write_folder,
    write_zip,
    zip_bytes,
)
from tests.jpeg_cuts import EOI, broken_cuts
from tests.jpeg_cuts import jpeg as cuttable_jpeg

pytestmark = pytest.mark.django_db

FULL = cuttable_jpeg(64, 48, seed=11)  # the file before it was cut


def _coco(images: dict[str, bytes]) -> dict[str, bytes | str]:
    """A COCO set with one box on each image (64x48), image files as given (``images/<name>``)."""
    names = list(images)
    return {
        "annotations/instances_train.json": coco_json(
            [coco_image(i + 1, name) for i, name in enumerate(names)],
            [coco_box(i + 1, i + 1, 7, [4, 4, 20, 10]) for i in range(len(names))],
            [{"id": 7, "name": "cat"}],
        ),
        **{f"images/{name}": data for name, data in images.items()},
    }


def _refused(project, path, **options) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        dataset_import(project=project, path=path, format="coco", **options)
    assert project_counts(project) == (0, 0, 0)
    return caught.value


@pytest.mark.parametrize("missing", [2, 1], ids=["ff-d9-missing", "d9-missing"])
def test_a_jpeg_missing_its_eoi_is_imported_repaired(project, tmp_path, missing):
    path = write_zip(tmp_path, _coco({"a.jpg": FULL[:-missing], "b.jpg": jpeg(seed=2)}))
    summary = dataset_import(project=project, path=path, format="coco")
    assert summary["repaired"] == ["images/a.jpg"] and summary["repaired_count"] == 1
    assert summary["images_created"] == 2 and summary["skipped"] == [] and summary["skipped_count"] == 0
    image = Image.objects.get(project=project, original_name="a.jpg")
    assert image.sha256 == hashlib.sha256(FULL[:-2] + EOI).hexdigest() == hashlib.sha256(FULL).hexdigest()
    assert media_path(image.file).read_bytes() == FULL
    assert Annotation.objects.filter(image=image).count() == 1


@pytest.mark.parametrize("cut", list(broken_cuts(FULL)))
def test_a_jpeg_missing_pixel_data_refuses_the_import_and_names_skip_broken(project, tmp_path, cut):
    path = write_zip(tmp_path, _coco({"a.jpg": broken_cuts(FULL)[cut], "b.jpg": jpeg(seed=2)}))
    refused = _refused(project, path)
    assert [p.file for p in refused.report.problems] == ["images/a.jpg"]
    assert "damaged or truncated" in refused.report.problems[0].message
    text = str(refused)
    assert "so nothing was imported" in text
    assert "1 of the problems are broken image files: import again with skip_broken=1" in text
    assert "--skip-broken" in text


@pytest.mark.parametrize("cut", list(broken_cuts(FULL)))
def test_skip_broken_imports_the_rest_and_lists_what_it_left_out(project, tmp_path, cut):
    path = write_zip(tmp_path, _coco({"a.jpg": broken_cuts(FULL)[cut], "b.jpg": jpeg(seed=2), "c.jpg": FULL[:-2]}))
    summary = dataset_import(project=project, path=path, format="coco", skip_broken=True)
    assert [s["file"] for s in summary["skipped"]] == ["images/a.jpg"] and summary["skipped_count"] == 1
    assert "damaged or truncated" in summary["skipped"][0]["reason"]
    assert summary["repaired"] == ["images/c.jpg"]
    assert summary["images_created"] == 2 and summary["annotations_created"] == 2
    assert sorted(Image.objects.filter(project=project).values_list("original_name", flat=True)) == ["b.jpg", "c.jpg"]


def test_skip_broken_does_not_skip_other_problems(project, tmp_path):
    members = _coco({"a.jpg": broken_cuts(FULL)["mid-scan-50%"], "b.jpg": jpeg(seed=2)})
    data = json.loads(members["annotations/instances_train.json"])
    data["annotations"][1]["bbox"] = [50, 4, 20, 10]  # sticks out of b.jpg
    members["annotations/instances_train.json"] = json.dumps(data)
    path = write_zip(tmp_path, members)
    refused = _refused(project, path, skip_broken=True)
    assert [p.object for p in refused.report.problems] == ["annotation id 2"] and not refused.report.hints
    refused = _refused(project, path)
    assert refused.report.count == 2
    assert "1 of the problems are broken image files" in str(refused)
    assert "the others must be fixed either way" in str(refused)


def test_no_hint_when_no_image_is_broken(project, tmp_path):
    members = _coco({"a.jpg": jpeg(seed=1)})
    members["annotations/instances_train.json"] = members["annotations/instances_train.json"].replace('"id": 7', '"id": 8')
    assert "skip_broken" not in str(_refused(project, write_zip(tmp_path, members)))


def test_skip_broken_with_every_image_broken_imports_nothing(project, tmp_path):
    path = write_zip(tmp_path, _coco({"a.jpg": broken_cuts(FULL)["mid-scan-10%"]}))
    refused = _refused(project, path, skip_broken=True)
    assert "Every image of the dataset is broken (1 skipped); nothing was imported." in str(refused)


def test_a_folder_dataset_too(project, tmp_path):
    folder = write_folder(tmp_path / "set", _coco({"a.jpg": broken_cuts(FULL)["one-scan-byte-short"], "b.jpg": FULL[:-2]}))
    assert "skip_broken=1" in str(_refused(project, folder))
    summary = dataset_import(project=project, path=folder, format="coco", skip_broken=True)
    assert [s["file"] for s in summary["skipped"]] == ["images/a.jpg"] and summary["repaired"] == ["images/b.jpg"]


# --- caps on what one file may hold ---------------------------------------------------------
def test_an_image_member_claiming_a_huge_size_is_refused_unread(project, tmp_path, settings):
    path = tmp_path / "d.zip"
    path.write_bytes(claim_size(zip_bytes(_coco({"a.jpg": jpeg(seed=1), "b.jpg": jpeg(seed=2)})), "images/a.jpg", 1024**3))
    refused = _refused(project, path)
    [problem] = refused.report.problems
    assert problem.file == "images/a.jpg"
    assert problem.message == (
        f"The archive member 'images/a.jpg' is 1,073,741,824 bytes once uncompressed; the limit is "
        f"{settings.IMAGE_MAX_BYTES:,}; it was not read."
    )
    assert "skip_broken=1" in str(refused)
    summary = dataset_import(project=project, path=path, format="coco", skip_broken=True)
    assert summary["images_created"] == 1 and summary["skipped"][0]["file"] == "images/a.jpg"


def test_an_image_over_the_limit_in_a_folder_is_refused_unread(project, tmp_path, settings):
    settings.IMAGE_MAX_BYTES = 1000
    folder = write_folder(tmp_path / "set", _coco({"a.jpg": jpeg(seed=1)}))
    size = (folder / "images" / "a.jpg").stat().st_size
    [problem] = _refused(project, folder).report.problems
    assert problem.message == f"images/a.jpg is {size:,} bytes; the limit is 1,000; it was not read."


def test_annotation_files_have_their_own_cap(project, tmp_path, settings):
    members = _coco({"a.jpg": jpeg(seed=1)})
    settings.IMPORT_ANNOTATION_MAX_BYTES = 100
    assert len(members["annotations/instances_train.json"]) > 100
    refused = _refused(project, write_zip(tmp_path, members))
    assert "'annotations/instances_train.json' is" in str(refused) and "the limit is 100; it was not read" in str(refused)
    settings.IMPORT_ANNOTATION_MAX_BYTES = 10_000
    settings.IMAGE_MAX_BYTES = 100  # images have theirs, whatever the annotation cap
    with dataset_files_open(write_zip(tmp_path, members, name="again.zip")) as files:
        assert files.read("annotations/instances_train.json").startswith(b"{")
        with pytest.raises(ValueError, match="the limit is 100"):
            files.read("images/a.jpg")


# --- through the API and the command --------------------------------------------------------
def _post(client, project_id, data: bytes, **fields):
    upload = io.BytesIO(data)
    upload.name = "dataset.zip"
    return client.post(f"/api/projects/{project_id}/import", {"file": upload, **fields}, format="multipart")


def test_the_api_refuses_with_the_hint_and_skip_broken_1_imports(project, users, api, django_capture_on_commit_callbacks):
    archive = zip_bytes(_coco({"a.jpg": broken_cuts(FULL)["mid-scan-50%"], "b.jpg": jpeg(seed=2), "c.jpg": FULL[:-2]}))
    client = api(users["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, project.pk, archive, format="coco")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and "import again with skip_broken=1" in job.error
    assert job.result["problem_count"] == 1 and "skip_broken=1" in job.result["hints"][0]
    assert project_counts(project) == (0, 0, 0)

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, project.pk, archive, format="coco", skip_broken="1")
    job = client.get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert [s["file"] for s in job["result"]["skipped"]] == ["images/a.jpg"]
    assert job["result"]["repaired"] == ["images/c.jpg"] and job["result"]["images_created"] == 2


def test_the_command_has_skip_broken(project, tmp_path):
    path = write_zip(tmp_path, _coco({"a.jpg": broken_cuts(FULL)["mid-scan-50%"], "b.jpg": jpeg(seed=2)}))
    args = [str(path), "--project", str(project.pk), "--format", "coco", "--no-progress"]
    with pytest.raises(CommandError, match="--skip-broken"):
        call_command("import_dataset", *args, stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("import_dataset", *args, "--skip-broken", stdout=out, stderr=io.StringIO())
    assert "repaired 0; skipped 1." in out.getvalue()
    assert "  skipped images/a.jpg: The image is damaged or truncated" in out.getvalue()
    assert project_counts(project) == (1, 1, 1)
