"""A JPEG that only lacks its end-of-image marker is stored repaired; one missing pixel data is not.

Real files, cut at every byte: libjpeg decodes a file cut anywhere in its scan once ``FF D9`` is
appended (it pads with zeros), so these tests are what shows the repair tells the two apart.
"""

import hashlib
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from annotate.imaging import ImageRejected, check_image_bytes, jpeg_missing_eoi_repaired
from annotate.models import Image
from annotate.storage import media_path
from tests.jpeg_cuts import EOI, broken_cuts, jpeg, marker_missing

VARIANTS = {
    "baseline": {},
    "progressive": {"progressive": True},
    "restart-markers": {"restart_marker_blocks": 1},
    "grey": None,  # made below: one component
    "optimized-4:4:4": {"optimize": True, "subsampling": 0},
}


def _variant(name: str, width: int = 96, height: int = 64, seed: int = 3) -> bytes:
    if name == "grey":
        out = io.BytesIO()
        PILImage.open(io.BytesIO(jpeg(width, height, seed=seed))).convert("L").save(out, "JPEG", quality=90)
        return out.getvalue()
    return jpeg(width, height, seed=seed, **VARIANTS[name])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("variant", VARIANTS)
def test_only_the_missing_marker_is_repaired_at_every_cut(variant):
    """Every cut of a real file: refused unless all that is missing is the EOI (or its last byte)."""
    data = _variant(variant, 48, 32)
    for cut in range(len(data) - 2):
        with pytest.raises(ImageRejected):
            check_image_bytes(data[:cut])
    for cut in (len(data) - 2, len(data) - 1):
        checked = check_image_bytes(data[:cut])
        assert checked.repaired and checked.data == data and checked.sha256 == sha(data), (variant, cut)
    assert not check_image_bytes(data).repaired


@pytest.mark.parametrize("cut", list(broken_cuts(jpeg(seed=1))))
def test_pixel_data_missing_is_still_refused(cut):
    data = broken_cuts(_variant("baseline", 256, 192))[cut]
    assert jpeg_missing_eoi_repaired(data) is None
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        check_image_bytes(data)


def test_the_repaired_file_is_the_cut_file_with_ff_d9_appended():
    data = marker_missing(_variant("baseline", 256, 192))
    checked = check_image_bytes(data)
    assert checked.repaired and checked.data == data + EOI and checked.sha256 == sha(data + EOI)
    assert (checked.width, checked.height, checked.mime_type) == (256, 192, "image/jpeg")


def test_a_cut_at_a_progressive_scan_boundary_is_refused():
    """Complete earlier scans and no later ones decode fine (blurry): the scan headers tell."""
    data = _variant("progressive", 256, 192)
    boundaries = [i for i in range(len(data) - 2) if data[i:i + 2] == b"\xff\xda"][1:]
    assert boundaries
    for at in boundaries:
        assert jpeg_missing_eoi_repaired(data[:at]) is None


def test_a_cut_at_a_restart_marker_is_refused():
    data = _variant("restart-markers", 256, 192)
    markers = [i for i in range(len(data) - 2) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]
    assert len(markers) > 10
    for at in markers[::7]:
        assert jpeg_missing_eoi_repaired(data[:at]) is None
        assert jpeg_missing_eoi_repaired(data[:at + 2]) is None


def test_other_formats_and_complete_files_are_not_touched():
    png = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(png, "PNG")
    assert jpeg_missing_eoi_repaired(png.getvalue()[:-5]) is None
    assert jpeg_missing_eoi_repaired(jpeg()) is None


def test_a_repaired_decompression_bomb_is_still_refused(settings):
    settings.IMAGE_MAX_PIXELS = 10_000
    with pytest.raises(ImageRejected, match="decompression bomb"):
        check_image_bytes(marker_missing(jpeg(256, 192)))


# --- through the upload API and the zip upload ----------------------------------------------
def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_upload_api_stores_the_repaired_file_and_lists_it(api, users, project):
    full = jpeg(256, 192, seed=5)
    response = api(users["owner"]).post(
        f"/api/projects/{project.pk}/images/",
        {"files": [upload("ok.jpg", jpeg(seed=6)), upload("no-eoi.jpg", marker_missing(full)),
                   upload("no-d9.jpg", jpeg(seed=7)[:-1])]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["repaired"] == ["no-eoi.jpg", "no-d9.jpg"]
    stored = Image.objects.get(project=project, original_name="no-eoi.jpg")
    assert stored.sha256 == sha(marker_missing(full) + EOI) == sha(full)
    assert media_path(stored.file).read_bytes() == full
    assert stored.size_bytes == len(full)


@pytest.mark.parametrize("cut", list(broken_cuts(jpeg(seed=1))))
def test_upload_api_refuses_a_file_missing_pixel_data(api, users, project, cut):
    data = broken_cuts(jpeg(256, 192, seed=5))[cut]
    response = api(users["owner"]).post(f"/api/projects/{project.pk}/images/", {"files": [upload("cut.jpg", data)]})
    assert response.status_code == 400 and "truncated" in response.json()["files"][0]
    assert not Image.objects.filter(project=project).exists()


def test_zip_upload_lists_the_repaired_files(api, users, project, django_capture_on_commit_callbacks):
    full = jpeg(256, 192, seed=8)
    archive = make_zip({"a/ok.jpg": jpeg(seed=9), "a/no-eoi.jpg": marker_missing(full)})
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/images/zip", {"file": upload("z.zip", archive)})
    job = api(users["owner"]).get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "succeeded", job
    assert job["result"]["repaired"] == ["a/no-eoi.jpg"] and job["result"]["repaired_count"] == 1
    stored = Image.objects.get(project=project, original_name="no-eoi.jpg")
    assert stored.sha256 == sha(full) and media_path(stored.file).read_bytes() == full


@pytest.mark.parametrize("cut", ["in-the-header", "right-after-the-scan-header", "mid-scan-50%", "one-scan-byte-short"])
def test_zip_upload_fails_on_a_file_missing_pixel_data(api, users, project, django_capture_on_commit_callbacks, cut):
    archive = make_zip({"ok.jpg": jpeg(seed=9), "cut.jpg": broken_cuts(jpeg(256, 192, seed=8))[cut]})
    with django_capture_on_commit_callbacks(execute=True):
        response = api(users["owner"]).post(f"/api/projects/{project.pk}/images/zip", {"file": upload("z.zip", archive)})
    job = api(users["owner"]).get(f"/api/jobs/{response.json()['id']}/").json()
    assert job["status"] == "failed" and "cut.jpg" in job["error"] and "skip_broken=1" in job["error"]
    assert not Image.objects.filter(project=project).exists()
