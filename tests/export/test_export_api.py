"""The export endpoint: streaming, caching, ETag and Range, large exports as jobs, bad requests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from export import streaming
from export.models import Export
from jobs.models import Job
from tests.conftest import annotate, set_split


@pytest.fixture
def version(project, labels, add_images, build_version):
    images = add_images(3)
    annotate(images[0], [(labels["cat"], "box", {"x": 1, "y": 2, "w": 10, "h": 12})])
    set_split(images, "train")
    return build_version(project)


def _url(version, fmt="coco", images=1) -> str:
    return f"/api/versions/{version.pk}/export?format={fmt}&images={images}"


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_small_export_streams_then_is_served_from_the_cache(api, users, version):
    client = api(users["viewer"])
    first = client.get(_url(version))
    assert first.status_code == 200 and first.streaming
    assert first["Content-Type"] == "application/zip"
    assert "attachment;" in first["Content-Disposition"] and "-v1-coco.zip" in first["Content-Disposition"]
    etag = first["ETag"]
    data = _body(first)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    export = Export.objects.get(version=version, format="coco", with_images=True)
    assert export.status == Export.Status.READY and Path(export.path).read_bytes() == data

    second = client.get(_url(version))
    assert second.status_code == 200
    assert second["ETag"] == etag and second["Content-Length"] == str(len(data))
    assert second["Accept-Ranges"] == "bytes"
    assert _body(second) == data
    assert client.get(_url(version), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_range_requests_get_the_right_bytes(api, users, version):
    client = api(users["viewer"])
    data = _body(client.get(_url(version)))
    size = len(data)
    partial = client.get(_url(version), HTTP_RANGE="bytes=10-99")
    assert partial.status_code == 206
    assert partial["Content-Range"] == f"bytes 10-99/{size}" and partial["Content-Length"] == "90"
    assert _body(partial) == data[10:100]
    tail = client.get(_url(version), HTTP_RANGE="bytes=-20")
    assert tail.status_code == 206 and _body(tail) == data[-20:]
    open_ended = client.get(_url(version), HTTP_RANGE=f"bytes={size - 5}-")
    assert _body(open_ended) == data[-5:]
    beyond = client.get(_url(version), HTTP_RANGE=f"bytes={size}-{size + 10}")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    stale = client.get(_url(version), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"another-etag"')
    assert stale.status_code == 200 and _body(stale) == data
    fresh = client.get(_url(version), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=partial["ETag"])
    assert fresh.status_code == 206 and _body(fresh) == data[:10]


def test_parse_range():
    assert streaming.parse_range("", 100) is None
    assert streaming.parse_range("bytes=0-0", 100) == (0, 0)
    assert streaming.parse_range("bytes=50-500", 100) == (50, 99)
    assert streaming.parse_range("bytes=-500", 100) == (0, 99)
    assert streaming.parse_range("bytes=100-", 100) == "unsatisfiable"
    assert streaming.parse_range("bytes=-0", 100) == "unsatisfiable"
    assert streaming.parse_range("bytes=5-1", 100) is None
    assert streaming.parse_range("bytes=0-1,5-6", 100) is None  # several ranges: send it all
    assert streaming.parse_range("items=0-1", 100) is None


def test_large_export_runs_as_a_job_and_a_second_request_gets_409(
    api, users, version, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_JOB_MIN_IMAGES = 2
    client = api(users["viewer"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = client.get(_url(version, "yolo"))
        assert started.status_code == 202
        job_id = started.data["id"]
        assert started.data["kind"] == "export.export" and started.data["status"] == "queued"
        again = client.get(_url(version, "yolo"))
        assert again.status_code == 409
        assert again.data["job"]["id"] == job_id
        other = client.get(_url(version, "yolo", images=0))  # a different export: its own job
        assert other.status_code == 202 and other.data["id"] != job_id
    assert Job.objects.filter(kind="export.export").count() == 2
    for callback in callbacks:
        callback()
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["format"] == "yolo" and job.result["size_bytes"] > 0
    done = client.get(_url(version, "yolo"))
    assert done.status_code == 200 and done["ETag"] == f'"{job.result["etag"]}"'
    archive = zipfile.ZipFile(io.BytesIO(_body(done)))
    assert "data.yaml" in archive.namelist()


def test_a_failed_export_job_can_be_started_again(api, users, version, settings, django_capture_on_commit_callbacks):
    settings.EXPORT_JOB_MIN_IMAGES = 1
    client = api(users["viewer"])
    with django_capture_on_commit_callbacks(execute=False):
        first = client.get(_url(version))
    Job.objects.filter(pk=first.data["id"]).update(status=Job.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        second = client.get(_url(version))
    assert second.status_code == 202 and second.data["id"] != first.data["id"]
    assert client.get(_url(version)).status_code == 200


@pytest.mark.parametrize(
    "query, field",
    [("format=excel", "format"), ("", "format"), ("format=coco&images=maybe", "images")],
)
def test_bad_export_requests_are_400(api, users, version, query, field):
    response = api(users["viewer"]).get(f"/api/versions/{version.pk}/export?{query}")
    assert response.status_code == 400
    assert field in response.data
    assert not Export.objects.exists()


def test_a_version_that_is_not_ready_does_not_export(api, users, version):
    from datasets.models import DatasetVersion

    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.FAILED)
    response = api(users["owner"]).get(_url(version))
    assert response.status_code == 400 and "failed" in response.data["detail"][0]


def test_deleting_a_version_removes_its_cached_exports(api, users, version):
    client = api(users["owner"])
    _body(client.get(_url(version)))
    path = Path(Export.objects.get(version=version).path)
    assert path.is_file()
    assert client.delete(f"/api/versions/{version.pk}/").status_code == 204
    assert not path.exists()


def test_the_zip_streams_in_bounded_chunks(project, add_images, build_version):
    from export import services

    add_images(24, width=512, height=512)  # noisy JPEGs of ~100 kB each
    version = build_version(project)
    sizes = [len(chunk) for chunk in services.export_chunks(version=version, fmt="coco", with_images=True)]
    assert len(sizes) > 1
    assert max(sizes) <= 2 * streaming.CHUNK_BYTES
    archive = zipfile.ZipFile(io.BytesIO(b"".join(services.export_chunks(version=version, fmt="coco", with_images=True))))
    images = [i for i in archive.infolist() if i.filename.startswith("images/")]
    assert len(images) == 24 and all(i.compress_type == zipfile.ZIP_STORED for i in images)
    assert archive.getinfo("annotations/instances_" + images[0].filename.split("/")[1] + ".json").compress_type == zipfile.ZIP_DEFLATED
