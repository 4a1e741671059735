import io
import zipfile

import pytest

from annotate.archives import ArchiveRejected, file_members, open_checked_zip


def make_zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("name", ["../evil.jpg", "a/../../evil.jpg", "/etc/passwd", "C:/windows/x.jpg", "..\\evil.jpg"])
def test_paths_that_escape_are_refused(name):
    with pytest.raises(ArchiveRejected, match="absolute|climbs"):
        open_checked_zip(make_zip({name: b"x"}))


def test_zip_bomb_is_refused(settings):
    settings.ZIP_MAX_UNCOMPRESSED_BYTES = 10 * 1024 * 1024
    bomb = make_zip({"zeros.bin": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb.getvalue()) < 100_000  # tiny on disk, huge once inflated
    with pytest.raises(ArchiveRejected, match="zip bomb"):
        open_checked_zip(bomb)


def test_not_a_zip():
    with pytest.raises(ArchiveRejected, match="not a readable zip"):
        open_checked_zip(io.BytesIO(b"PK but not really"))


def test_litter_and_folders_are_left_out():
    archive = open_checked_zip(make_zip({"a/x.jpg": b"1", "__MACOSX/a/._x.jpg": b"2", ".DS_Store": b"3", "b/": b""}))
    assert [i.filename for i in file_members(archive)] == ["a/x.jpg"]
