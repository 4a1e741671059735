"""The atomic-write helpers of annotate.storage: a reader sees the old file or the whole new one."""

import os

import pytest

from annotate import storage


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
