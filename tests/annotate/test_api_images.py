import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotate.models import Annotation, Image
from annotate.storage import media_path
from annotate.uploads import ImageEntry, images_create_bulk
from tests.conftest import image_bytes


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def test_upload_several_files_deduplicates_by_content(api, users, project):
    client = api(users["annotator"])
    url = f"/api/projects/{project.pk}/images/"
    a, b = image_bytes(seed=1), image_bytes(seed=2)
    response = client.post(url, {"files": [upload("a.jpg", a), upload("b.png", b), upload("a-again.jpg", a)]})
    assert response.status_code == 201, response.content
    assert len(response.json()["created"]) == 2
    again = client.post(url, {"files": [upload("copy.jpg", a)]})
    assert again.status_code == 201 and again.json()["created"] == []
    assert again.json()["duplicates"][0]["original_name"] == "a.jpg"
    stored = Image.objects.get(project=project, original_name="a.jpg")
    assert media_path(stored.file).read_bytes() == a
    assert stored.mime_type == "image/jpeg"  # by content: the file named .png was a JPEG
    assert Image.objects.get(project=project, original_name="b.png").mime_type == "image/jpeg"


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("notes.jpg", b"just some text", "not an image"),
        ("cut.jpg", image_bytes(256, 256, seed=4)[:1500], "truncated"),
        ("empty.jpg", b"", "empty"),
    ],
)
def test_a_bad_file_refuses_the_whole_request(api, users, project, name, data, reason):
    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/images/", {"files": [upload("good.jpg", image_bytes(seed=9)), upload(name, data)]}
    )
    assert response.status_code == 400
    assert any(reason in line for line in response.json()["files"]), response.json()
    assert not Image.objects.filter(project=project).exists()


def test_decompression_bomb_and_size_limit_are_400(api, users, project, settings):
    settings.IMAGE_MAX_PIXELS = 1_000_000
    bomb = io.BytesIO()
    PILImage.new("1", (3000, 3000)).save(bomb, "PNG")
    client = api(users["owner"])
    url = f"/api/projects/{project.pk}/images/"
    response = client.post(url, {"files": [upload("bomb.png", bomb.getvalue())]})
    assert response.status_code == 400 and "decompression bomb" in response.json()["files"][0]
    settings.IMAGE_MAX_BYTES = 500
    response = client.post(url, {"files": [upload("big.jpg", image_bytes(200, 200, seed=5, quality=100))]})
    assert response.status_code == 400 and "limit" in response.json()["files"][0]
    assert not Image.objects.filter(project=project).exists()


def test_no_files_is_400(api, users, project):
    assert api(users["owner"]).post(f"/api/projects/{project.pk}/images/", {}).status_code == 400


def test_list_filters_and_pagination(api, users, project, labels, add_images):
    images = add_images(5)
    Image.objects.filter(pk__in=[images[0].pk, images[1].pk]).update(split="train")
    Image.objects.filter(pk=images[2].pk).update(status="done")
    Annotation.objects.create(image=images[3], label=labels["dog"], kind="tag", geometry={})
    client = api(users["viewer"])
    url = f"/api/projects/{project.pk}/images/"
    assert [i["id"] for i in client.get(url, {"split": "train"}).json()["results"]] == [images[0].pk, images[1].pk]
    assert [i["id"] for i in client.get(url, {"status": "done"}).json()["results"]] == [images[2].pk]
    dogs = client.get(url, {"label": labels["dog"].pk}).json()["results"]
    assert [(i["id"], i["annotation_count"]) for i in dogs] == [(images[3].pk, 1)]
    page = client.get(url, {"page_size": 2, "page": 1}).json()
    assert page["count"] == 5 and len(page["results"]) == 5  # default page size 100
    assert client.get(url, {"label": "dog"}).status_code == 400


def test_image_list_query_count_is_bounded_at_10000_images(api, users, project, django_assert_max_num_queries):
    images_create_bulk(
        project=project,
        entries=[
            ImageEntry(sha256=f"{i:064x}", extension="jpg", mime_type="image/jpeg", size_bytes=1, width=10, height=10,
                       phash="0" * 16)
            for i in range(10_000)
        ],
        user=users["owner"],
    )
    client = api(users["viewer"])
    with django_assert_max_num_queries(6):
        response = client.get(f"/api/projects/{project.pk}/images/", {"page": 50})
    assert response.status_code == 200
    assert response.json()["count"] == 10_000 and len(response.json()["results"]) == 100


def test_file_and_thumbnail_need_membership(api, users, project, add_images, client):
    (image,) = add_images(1, width=640, height=480)
    member = api(users["viewer"])
    response = member.get(f"/api/images/{image.pk}/file")
    assert response.status_code == 200 and b"".join(response.streaming_content) == media_path(image.file).read_bytes()
    thumb = member.get(f"/api/images/{image.pk}/thumbnail", {"size": 128})
    assert thumb.status_code == 200
    assert max(PILImage.open(io.BytesIO(b"".join(thumb.streaming_content))).size) == 128
    assert api(users["outsider"]).get(f"/api/images/{image.pk}/file").status_code == 404
    assert api().get(f"/api/images/{image.pk}/file").status_code in (401, 403)
    assert client.get(f"/media/{image.file}").status_code == 404  # media is never served directly


def test_patch_split_locks_it_and_status_needs_right_role(api, users, project, add_images):
    (image,) = add_images(1)
    annotator = api(users["annotator"])
    response = annotator.patch(f"/api/images/{image.pk}/", {"split": "test"}, format="json")
    assert response.status_code == 200 and response.json()["split_locked"] is True
    assert annotator.patch(f"/api/images/{image.pk}/", {"status": "done"}, format="json").status_code == 200
    assert annotator.patch(f"/api/images/{image.pk}/", {"status": "reviewed"}, format="json").status_code == 403
    assert annotator.patch(f"/api/images/{image.pk}/", {"split": "nowhere"}, format="json").status_code == 400
    image.refresh_from_db()
    assert (image.split, image.status) == ("test", "done")


def test_review_accept_and_reject(api, users, project, add_images):
    (image,) = add_images(1)
    reviewer = api(users["reviewer"])
    url = f"/api/images/{image.pk}/review"
    assert reviewer.post(url, {"decision": "reject"}, format="json").status_code == 400  # needs a comment
    rejected = reviewer.post(url, {"decision": "reject", "comment": "tail missing"}, format="json").json()
    assert (rejected["status"], rejected["review_comment"]) == ("in_progress", "tail missing")
    assert reviewer.post(url, {"decision": "accept"}, format="json").json()["status"] == "reviewed"
    assert api(users["annotator"]).post(url, {"decision": "accept"}, format="json").status_code == 403


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_zip_upload_runs_as_a_job(api, users, project, django_capture_on_commit_callbacks):
    archive = make_zip({"a/1.jpg": image_bytes(seed=1), "a/2.jpg": image_bytes(seed=2), "README.txt": b"hello"})
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["annotator"]).post(
            f"/api/projects/{project.pk}/images/zip", {"file": upload("batch.zip", archive)}
        )
    assert response.status_code == 202, response.content
    job = api(users["annotator"]).get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    assert job["result"]["created"] == 2 and job["result"]["skipped"][0]["file"] == "README.txt"
    assert Image.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    "members, reason",
    [
        ({"../escape.jpg": image_bytes(seed=1)}, "climbs out"),
        ({"/abs.jpg": image_bytes(seed=1)}, "absolute"),
    ],
)
def test_unsafe_zip_is_400_before_any_job(api, users, project, members, reason):
    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/images/zip", {"file": upload("x.zip", make_zip(members))}
    )
    assert response.status_code == 400 and reason in response.json()["file"][0]
    assert not project.jobs.exists() and not Image.objects.filter(project=project).exists()


def test_zip_bomb_is_400(api, users, project, settings):
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 5 * 1024 * 1024
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.jpg", b"\0" * (50 * 1024 * 1024))
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/images/zip", {"file": upload("b.zip", bomb.getvalue())})
    assert response.status_code == 400 and "zip bomb" in response.json()["file"][0]
    assert not project.jobs.exists()


def test_zip_with_a_broken_image_fails_the_job_and_adds_nothing(api, users, project, django_capture_on_commit_callbacks):
    archive = make_zip({"ok.jpg": image_bytes(seed=1), "broken.jpg": image_bytes(256, 256, seed=2)[:900]})
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/images/zip", {"file": upload("z.zip", archive)})
    job = api(users["owner"]).get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "failed" and "broken.jpg" in job["error"]
    assert not Image.objects.filter(project=project).exists()
