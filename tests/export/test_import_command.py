import io

import pytest
from django.core.management import CommandError, call_command

from jobs.models import Job
from tests.export.import_fixtures import coco_box, coco_dataset, project_counts, write_folder, write_zip

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_a_folder_by_project_id_with_a_progress_bar(project, tmp_path):
    folder = write_folder(tmp_path / "set", coco_dataset())
    out, err = _run(str(folder), "--project", str(project.pk), "--format", "coco")
    assert "1 image files, 0 of them copies of others; 1 images added, 1 annotations {'box': 1}" in out
    assert "%" in err or "‰" in err  # tqdm drew its bar on stderr
    assert project_counts(project) == (1, 1, 1)
    job = Job.objects.get()
    assert job.kind == "export.import_dataset" and job.status == "succeeded" and job.project == project


def test_imports_a_zip_by_project_name_as_a_user(project, users, tmp_path):
    path = write_zip(tmp_path, coco_dataset())
    _run(str(path), "--project", "Cats", "--format", "coco", "--user", "owner", "--no-progress")
    assert Job.objects.get().created_by == users["owner"]
    assert path.exists()  # the user's own file is left where it was


def test_a_refused_dataset_fails_with_the_report_and_changes_nothing(project, tmp_path):
    path = write_zip(tmp_path, coco_dataset(annotations=[coco_box(1, 1, 3, [1, 1, 5, 5])]))
    with pytest.raises(CommandError, match="annotation id 1: Its category_id 3 is not among the categories"):
        _run(str(path), "--project", str(project.pk), "--format", "coco", "--no-progress")
    assert project_counts(project) == (0, 0, 0)
    assert Job.objects.get().status == "failed"


def test_unknown_project_and_missing_path(project, tmp_path):
    with pytest.raises(CommandError, match="No project 'Dogs'"):
        _run(str(tmp_path), "--project", "Dogs", "--format", "coco")
    with pytest.raises(CommandError, match="neither a zip archive nor a folder"):
        _run(str(tmp_path / "nothing.zip"), "--project", "Cats", "--format", "coco", "--no-progress")
