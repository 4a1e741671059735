"""Job errors, messages and logs reach project members without the server's directories."""

from pathlib import Path

import pytest
from django.conf import settings

from jobs import services
from jobs.public_text import without_server_paths
from jobs.runner import run_job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("text, shown", [
    ("[Errno 2] No such file or directory: '/srv/lensforge/media/versions/ab/ab12.png'",
     "[Errno 2] No such file or directory: 'ab12.png'"),
    ('  File "/usr/lib/python3.11/zipfile.py", line 1301, in __init__',
     '  File "zipfile.py", line 1301, in __init__'),
    ("cannot write /tmp/lensforge-x/partial/ (disk full)", "cannot write partial (disk full)"),
    # Not server paths: URLs, API routes, relative names and plain slashes stay as they are.
    ("see https://example.org/usr/docs and POST /api/projects/3/recipes/", None),
    ("train/val/test split of images/cat.jpg", None),
    ("mAP@.5 0.52 / 0.50 int8", None),
    ("/username/x and /tmpfs are not under a server folder", None),
])
def test_absolute_paths_are_reduced_to_their_last_part(text, shown):
    assert without_server_paths(text) == (text if shown is None else shown)


def test_this_installations_own_folders_count_as_server_paths():
    media = Path(settings.MEDIA_ROOT) / "imports" / "upload-7.zip"
    assert without_server_paths(f"Bad zip: {media}") == "Bad zip: upload-7.zip"


def test_a_failed_job_shows_file_names_only_in_the_api(users, project, client):
    job = services.job_create(kind="test.work", created_by=users["owner"], project=project)
    missing = Path(settings.MEDIA_ROOT) / "versions" / "0a" / "0a1b.png"

    def work(ctx):
        ctx.progress(0.2, f"reading {missing}")
        open(missing).close()

    run_job(job.pk, work)
    client.force_login(users["owner"])
    body = client.get(f"/api/jobs/{job.pk}/").json()
    assert body["status"] == "failed" and "0a1b.png" in body["error"]
    for field in ("error", "message", "log"):
        assert str(settings.MEDIA_ROOT) not in body[field] and "/versions/" not in body[field], field
    assert 'File "runner.py"' in body["log"]  # the traceback keeps file names and lines
