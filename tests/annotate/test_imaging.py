import io

import pytest
from PIL import Image as PILImage

from annotate.imaging import ImageRejected, check_image_bytes, hamming_distances
from tests.conftest import image_bytes


def test_accepts_a_jpeg_and_reports_its_size_and_hash():
    checked = check_image_bytes(image_bytes(64, 48))
    assert (checked.width, checked.height, checked.mime_type, checked.extension) == (64, 48, "image/jpeg", "jpg")
    assert len(checked.sha256) == 64 and len(checked.phash) == 16


def test_content_decides_not_the_name():
    png = image_bytes(32, 32, fmt="PNG")
    assert check_image_bytes(png).mime_type == "image/png"


@pytest.mark.parametrize("data", [b"", b"hello, I am a text file", b"%PDF-1.4 not an image"])
def test_non_images_are_refused(data):
    with pytest.raises(ImageRejected):
        check_image_bytes(data)


def test_truncated_jpeg_is_refused():
    data = image_bytes(256, 256, seed=3)
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        check_image_bytes(data[: len(data) // 2])


def test_decompression_bomb_is_refused(settings):
    settings.IMAGE_MAX_PIXELS = 1_000_000
    out = io.BytesIO()
    PILImage.new("1", (2000, 2000)).save(out, "PNG")  # tiny file, 4 million pixels
    assert len(out.getvalue()) < 10_000
    with pytest.raises(ImageRejected, match="decompression bomb"):
        check_image_bytes(out.getvalue())


def test_file_over_the_size_limit_is_refused(settings):
    settings.IMAGE_MAX_BYTES = 1000
    with pytest.raises(ImageRejected, match="limit"):
        check_image_bytes(image_bytes(200, 200, seed=1, quality=100))


def test_exif_orientation_is_applied_once():
    image = PILImage.new("RGB", (60, 20), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 10, 20))  # a blue stripe on the left
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    checked = check_image_bytes(out.getvalue())
    assert (checked.width, checked.height) == (20, 60)
    stored = PILImage.open(io.BytesIO(checked.data))
    assert stored.getexif().get(0x0112, 1) == 1
    r, g, b = stored.convert("RGB").getpixel((10, 2))
    assert b > 200 and r < 60  # the stripe is now along the top


def test_near_duplicates_are_close_and_different_images_are_far():
    original = check_image_bytes(image_bytes(320, 240, seed=7, quality=95)).phash
    recompressed = check_image_bytes(image_bytes(320, 240, seed=7, quality=40)).phash
    other = check_image_bytes(image_bytes(320, 240, seed=8)).phash
    d = hamming_distances([original, recompressed, other])
    assert d[0, 1] <= 4
    assert d[0, 2] > 12


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_every_truncation_is_a_clear_rejection_never_a_crash(fmt):
    data = image_bytes(96, 64, seed=4, fmt=fmt)
    # Up to the last 3 bytes: a JPEG lacking only its end-of-image marker is repaired (test_jpeg_repair.py).
    for cut in range(0, len(data) - 2, 5):
        with pytest.raises(ImageRejected):
            check_image_bytes(data[:cut])
