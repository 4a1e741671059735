"""The atomic-write helpers of annotate.storage: a reader sees the old file or the whole new one."""

import os
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotate import storage
from annotate.imaging import check_image_bytes
from annotate.uploads import images_store_checked
from tests.conftest import image_bytes


def test_atomic_file_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.zip"
    with storage.atomic_file(target) as fh:
        fh.write(b"first")
        assert not target.exists()  # nothing at the target until the block ends
    with storage.atomic_file(target) as fh:
        fh.write(b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["out.zip"]
    assert target.stat().st_mode & 0o077 == 0  # owner-only, as tempfile.mkstemp made them


def test_a_failed_write_leaves_no_temporary_and_no_target(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), storage.atomic_file(target) as fh:
        fh.write(b"half")
        raise RuntimeError("disk on fire")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), storage.atomic_file(target, "w") as fh:
        fh.write("new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_a_closed_generator_writing_through_it_removes_its_temporary(tmp_path):
    target = tmp_path / "stream.zip"

    def stream():
        with storage.atomic_file(target) as fh:
            for chunk in (b"a", b"b", b"c"):
                fh.write(chunk)
                yield chunk

    chunks = stream()
    assert next(chunks) == b"a"
    chunks.close()  # the caller went away half-way
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_is_for_writers_that_make_the_file(tmp_path):
    source = tmp_path / "source.jpg"
    source.write_bytes(b"jpeg")
    target = tmp_path / "versions" / "copy.jpg"
    with storage.atomic_path(target) as tmp:
        assert not tmp.exists() and tmp.parent == target.parent
        os.link(source, tmp)
    assert target.read_bytes() == b"jpeg" and sorted(os.listdir(target.parent)) == ["copy.jpg"]
    with pytest.raises(OSError), storage.atomic_path(tmp_path / "versions" / "missing.jpg") as tmp:
        os.link(tmp_path / "nope.jpg", tmp)
    assert sorted(os.listdir(target.parent)) == ["copy.jpg"]


def test_write_atomic_stores_once(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    assert storage.write_atomic("a/b.bin", b"one") == "a/b.bin"
    assert storage.write_atomic("a/b.bin", b"two") == "a/b.bin"  # content-addressed: never rewritten
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"one" and os.listdir(tmp_path / "a") == ["b.bin"]


# --- removing a shared file while another project uploads the same bytes ----------------------
# A stored file is shared by every image of its content, in any project. Each test makes the
# interleaving that lost the file happen for sure (a sleep at the critical point), in real threads
# on real connections, so it holds on SQLite and on PostgreSQL alike.
def _delete(how: str, image, project) -> None:
    from annotate import services

    if how == "image":
        services.image_delete(image=image)
    else:
        services.project_delete(project=project)


def _in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _shared_bytes_setup(users, seed: int):
    from annotate import services

    data = image_bytes(seed=seed)
    old = services.project_create(name="Old", created_by=users["owner"])
    new = services.project_create(name="New", created_by=users["owner"])
    [doomed] = images_store_checked(project=old, checked=[("a.jpg", check_image_bytes(data))], user=users["owner"],
                                    source="upload").created
    return data, old, new, doomed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["image", "project"])
def test_an_upload_while_the_last_user_of_its_file_is_removed_keeps_the_file(how, users, monkeypatch):
    data, old, new, doomed = _shared_bytes_setup(users, seed=4241 if how == "image" else 4242)
    file = storage.media_path(doomed.file)
    unlinking = threading.Event()
    real_unlink = Path.unlink

    def slow_unlink(self, missing_ok=False):
        if self == file:
            unlinking.set()
            time.sleep(0.4)  # the upload runs now, unless the removal holds it off
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", slow_unlink)
    created, errors = [], []

    def upload():
        assert unlinking.wait(10), "the file was never removed"
        created.extend(images_store_checked(project=new, checked=[("b.jpg", check_image_bytes(data))],
                                            user=users["owner"], source="upload").created)

    threads = [_in_thread(lambda: _delete(how, doomed, old), errors), _in_thread(upload, errors)]
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    [image] = created
    assert storage.media_path(image.file).read_bytes() == data
    response = APIClient()
    response.force_authenticate(users["owner"])
    assert response.get(f"/api/images/{image.pk}/file").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["image", "project"])
def test_removing_the_last_user_of_a_file_while_an_upload_of_it_commits_keeps_the_file(how, users, monkeypatch):
    data, old, new, doomed = _shared_bytes_setup(users, seed=4243 if how == "image" else 4244)
    stored = threading.Event()
    real_store = storage.store_image

    def slow_store(sha256, extension, payload):
        relative = real_store(sha256, extension, payload)
        stored.set()
        time.sleep(0.4)  # the upload's row is not committed yet: the removal must wait for it
        return relative

    monkeypatch.setattr(storage, "store_image", slow_store)
    created, errors = [], []

    def delete():
        assert stored.wait(10), "the upload never stored its file"
        _delete(how, doomed, old)

    threads = [
        _in_thread(lambda: created.extend(images_store_checked(
            project=new, checked=[("b.jpg", check_image_bytes(data))], user=users["owner"], source="upload").created),
            errors),
        _in_thread(delete, errors),
    ]
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    [image] = created
    assert storage.media_path(image.file).read_bytes() == data


@pytest.mark.django_db
def test_the_file_of_a_removed_image_goes_once_no_image_uses_it(users, django_capture_on_commit_callbacks):
    from annotate import services

    data, old, new, doomed = _shared_bytes_setup(users, seed=4245)
    [twin] = images_store_checked(project=new, checked=[("b.jpg", check_image_bytes(data))], user=users["owner"],
                                  source="upload").created
    file = storage.media_path(doomed.file)
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=old)
    assert file.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.image_delete(image=twin)
    assert not file.exists()


def test_files_lock_needs_a_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        storage.files_lock(["images/ab/abc.jpg"])
