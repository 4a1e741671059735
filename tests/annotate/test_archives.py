import io
import tracemalloc
import zipfile

import pytest

from annotate.archives import ArchiveRejected, file_members, open_checked_zip, read_member


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


# --- one member's read is capped ------------------------------------------------------------
def claim_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with ``name``'s central-directory entry claiming ``size`` uncompressed bytes (a lying header)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        length = int.from_bytes(out[at + 28:at + 30], "little")
        if out[at + 46:at + 46 + length] == name.encode():
            out[at + 24:at + 28] = size.to_bytes(4, "little")
            return bytes(out)
        at = out.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{name} is not in the zip")


def _peak_while(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_member_claiming_a_gigabyte_is_refused_without_being_read():
    archive = open_checked_zip(io.BytesIO(claim_size(make_zip({"huge.jpg": b"x" * 1000}).getvalue(), "huge.jpg", 1024**3)))
    [info] = file_members(archive)
    assert info.file_size == 1024**3

    def read():
        with pytest.raises(ArchiveRejected, match=r"'huge.jpg' is 1,073,741,824 bytes once uncompressed; the limit is "
                                                  r"52,428,800; it was not read"):
            read_member(archive, info, limit=50 * 1024 * 1024)

    assert _peak_while(read) < 256 * 1024


def test_a_highly_compressible_member_over_the_limit_is_refused_by_its_declared_size():
    zipped = make_zip({"zeros.jpg": b"\0" * (8 * 1024 * 1024)})
    assert len(zipped.getvalue()) < 64 * 1024
    archive = open_checked_zip(zipped)
    [info] = file_members(archive)
    peak = _peak_while(lambda: pytest.raises(ArchiveRejected, read_member, archive, info, limit=1024 * 1024))
    assert peak < 256 * 1024  # 8 MB never inflated


def test_a_member_lying_small_is_never_read_past_its_claim():
    """zipfile stops at the declared size; the read fails its CRC check instead of growing."""
    data = bytes(range(256)) * 400  # 100 KB
    archive = open_checked_zip(io.BytesIO(claim_size(make_zip({"liar.jpg": data}).getvalue(), "liar.jpg", 1000)))
    [info] = file_members(archive)
    with pytest.raises(ArchiveRejected, match="'liar.jpg' cannot be read"):
        read_member(archive, info, limit=10_000)


def test_a_member_within_the_limit_is_read_whole():
    data = bytes(range(256)) * 4000  # 1 MB, over one read chunk
    archive = open_checked_zip(make_zip({"a.bin": data, "b.bin": b"exactly"}))
    infos = {info.filename: info for info in file_members(archive)}
    assert read_member(archive, infos["a.bin"], limit=len(data)) == data
    assert read_member(archive, infos["b.bin"], limit=7) == b"exactly"
    with pytest.raises(ArchiveRejected, match="limit is 6"):
        read_member(archive, infos["b.bin"], limit=6)
