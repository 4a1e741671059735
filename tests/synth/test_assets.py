"""Upload checks of synthetic-data assets, through the real API: HDRIs, 3D models, cut-outs, sizes.

Every refusal is a 400 that names the problem and stores nothing (no Asset row, no file). The 3D
files and the OpenEXR are made by Blender itself, in one subprocess per module, so the tests see
what a user exporting from Blender would upload.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from synth.models import Asset

from .builders import OBJ_CUBE, png_bytes, rgba_cutout

pytestmark = pytest.mark.django_db

# A unit cube with an empty named "nose" (a keypoint marker) parented to it and a vertex group
# "left_eye" (the other way to mark a keypoint), exported as FBX and saved as .blend; plus a small
# float image saved as OpenEXR, uncompressed and ZIP-compressed (16 rows a chunk: 40 rows make a
# partial last chunk).
BLENDER_SCRIPT = """
import sys
from pathlib import Path

import bpy

out = Path(sys.argv[1])
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.mesh.primitive_cube_add(size=1.0)
cube = bpy.context.active_object
cube.vertex_groups.new(name="left_eye").add([0, 1], 1.0, "REPLACE")
nose = bpy.data.objects.new("nose", None)
nose.location = (0.0, -0.5, 0.2)
nose.parent = cube
bpy.context.scene.collection.objects.link(nose)
bpy.ops.export_scene.fbx(filepath=str(out / "cube.fbx"))
bpy.ops.wm.save_as_mainfile(filepath=str(out / "cube.blend"))
sky = bpy.data.images.new("sky", width=16, height=40, float_buffer=True, alpha=False)
sky.pixels = [v for i in range(16 * 40) for v in (i / 16.0, 2.0, 0.25, 1.0)]
sky.filepath_raw = str(out / "sky.exr")
sky.file_format = "OPEN_EXR"
sky.save()
settings = bpy.context.scene.render.image_settings
settings.file_format = "OPEN_EXR"
settings.exr_codec = "ZIP"
sky.save_render(str(out / "sky-zip.exr"), scene=bpy.context.scene)
"""


@pytest.fixture(scope="module")
def blender_files(tmp_path_factory) -> dict[str, bytes]:
    """FBX, .blend and OpenEXR files written by Blender; one Blender start for the whole module."""
    out = tmp_path_factory.mktemp("blender-files")
    proc = subprocess.run([sys.executable, "-c", BLENDER_SCRIPT, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: (out / name).read_bytes() for name in ("cube.fbx", "cube.blend", "sky.exr", "sky-zip.exr")}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """A media folder of this test's own, so 'nothing was stored' can be checked on disk."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def upload(api, users, project):
    """``upload(kind, data, name=..., label=...)`` → the API's response to an owner's upload."""

    def post(kind: str, data: bytes, *, name: str = "asset.bin", label=None):
        payload = {"file": SimpleUploadedFile(name, data), "kind": kind}
        if label is not None:
            payload["label"] = label.pk
        return api(users["owner"]).post(f"/api/projects/{project.pk}/synth-assets/", payload, format="multipart")

    return post


def assert_refused(response, media_root: Path, field: str, *words: str) -> None:
    """A 400 whose ``field`` error says each of ``words``; no Asset row and no file were stored."""
    assert response.status_code == 400, response.json()
    message = str(response.json()[field])
    for word in words:
        assert word in message, message
    assert Asset.objects.count() == 0
    assets = media_root / "assets"
    assert not assets.exists() or [p for p in assets.rglob("*") if p.is_file()] == []


def assert_stored(response, media_root: Path) -> dict:
    """A 201 whose Asset row exists and whose file on disk holds the bytes the row's sha256 names."""
    assert response.status_code == 201, response.json()
    body = response.json()
    asset = Asset.objects.get(pk=body["id"])
    assert hashlib.sha256((media_root / asset.file).read_bytes()).hexdigest() == body["sha256"]
    return body


def radiance_hdr(width: int = 20, height: int = 12) -> bytes:
    """A Radiance .hdr written by OpenCV from a float32 image with values above 1 (real HDR)."""
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32) * 4
    ok, encoded = cv2.imencode(".hdr", image)
    assert ok
    return encoded.tobytes()


# --- HDRIs -----------------------------------------------------------------------------------
def test_radiance_hdr_is_201_with_its_size(upload, media_root, tmp_path):
    path = tmp_path / "sky.hdr"
    image = np.random.default_rng(0).random((12, 20, 3), dtype=np.float32) * 4
    assert cv2.imwrite(str(path), image)
    body = assert_stored(upload("hdri", path.read_bytes(), name="sky.hdr"), media_root)
    assert body["kind"] == "hdri" and body["format"] == "hdr"
    assert body["meta"]["width"] == 20 and body["meta"]["height"] == 12
    assert body["label"] is None


@pytest.mark.parametrize(
    "damage,reason",
    [
        pytest.param(lambda data: data[: len(data) // 2], "does not decode", id="truncated"),
        pytest.param(lambda data: data.replace(b"-Y 12 +X 20", b"-Y 12 +X 999"), "does not decode", id="wrong-width"),
        pytest.param(lambda data: data.replace(b"-Y 12 +X 20\n", b""), "no resolution line", id="no-resolution-line"),
    ],
)
def test_damaged_radiance_hdr_is_400(upload, media_root, damage, reason):
    original = radiance_hdr()
    damaged = damage(original)
    assert damaged != original
    response = upload("hdri", damaged, name="sky.hdr")
    assert_refused(response, media_root, "file", "Radiance HDR", reason)


def test_radiance_hdr_declaring_too_many_pixels_is_400(upload, media_root, settings):
    """A small file whose header asks for a huge image is refused before anything is decoded."""
    settings.IMAGE_MAX_PIXELS = 100
    response = upload("hdri", radiance_hdr(20, 12), name="sky.hdr")
    assert_refused(response, media_root, "file", "20x12", "limit")


def test_png_uploaded_as_hdri_is_400(upload, media_root):
    response = upload("hdri", png_bytes(np.zeros((8, 8, 3), dtype=np.uint8)), name="sky.hdr")
    assert_refused(response, media_root, "file", "Radiance .hdr or an OpenEXR")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sky.exr", "sky-zip.exr"])
def test_openexr_written_by_blender_is_201(upload, media_root, blender_files, name):
    body = assert_stored(upload("hdri", blender_files[name], name=name), media_root)
    assert body["format"] == "exr"
    assert body["meta"]["width"] == 16 and body["meta"]["height"] == 40


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sky.exr", "sky-zip.exr"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_openexr_is_400(upload, media_root, blender_files, name, keep):
    """Cut in the middle (chunks missing) or just before the end (the last chunk incomplete)."""
    data = blender_files[name]
    response = upload("hdri", data[: int(len(data) * keep)], name="sky.exr")
    assert_refused(response, media_root, "file", "OpenEXR", "truncated")


def test_openexr_attribute_with_a_negative_size_is_400_not_a_hang(upload, media_root):
    # A signed size of -8 would send the header reader back to the start of the same attribute.
    data = b"\x76\x2f\x31\x01\x02\x00\x00\x00" + b"a\x00t\x00" + struct.pack("<i", -8) + b"\x00" * 16
    response = upload("hdri", data, name="s.exr")
    assert_refused(response, media_root, "file", "OpenEXR")


def test_openexr_header_only_is_400(upload, media_root):
    response = upload("hdri", b"\x76\x2f\x31\x01\x02\x00\x00\x00dataWindow\x00box2i\x00" + b"\x00" * 60, name="s.exr")
    assert_refused(response, media_root, "file", "OpenEXR")


# --- 3D models -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name,fmt", [("cube.fbx", "fbx"), ("cube.blend", "blend")])
def test_model_from_blender_is_201_with_meshes_and_keypoint_markers(
    upload, labels, media_root, blender_files, name, fmt
):
    body = assert_stored(upload("model3d", blender_files[name], name=name, label=labels["cat"]), media_root)
    assert body["format"] == fmt and body["label"] == labels["cat"].pk
    assert body["meta"]["meshes"] >= 1 and body["meta"]["vertices"] == 8
    assert "nose" in body["meta"]["keypoint_names"]
    assert "missing_keypoints" not in body["meta"]  # "cat" has no keypoints to look for


@pytest.mark.slow
def test_model_for_keypoint_label_lists_missing_keypoints(upload, labels, media_root, blender_files):
    """The .blend marks "nose" with an empty and "left_eye" with a vertex group; "right_eye" is missing."""
    body = assert_stored(
        upload("model3d", blender_files["cube.blend"], name="face.blend", label=labels["face"]), media_root
    )
    assert body["meta"]["keypoint_names"] == ["left_eye", "nose"]
    assert body["meta"]["missing_keypoints"] == ["right_eye"]


@pytest.mark.slow
def test_fbx_header_with_garbage_is_400_with_blenders_reason(upload, labels, media_root, blender_files):
    header = blender_files["cube.fbx"][:27]  # "Kaydara FBX Binary  \0\x1a\0" and the version
    assert header.startswith(b"Kaydara FBX Binary")
    response = upload("model3d", header + b"garbage " * 40, name="m.fbx", label=labels["cat"])
    assert_refused(response, media_root, "file", "Blender could not import the model", "Couldn't open file")
    assert "lensforge-probe" not in str(response.json())  # no server paths in what the user reads


@pytest.mark.slow
def test_blend_magic_with_garbage_is_400(upload, labels, media_root):
    response = upload("model3d", b"BLENDER-v500REND" + b"garbage " * 40, name="m.blend", label=labels["cat"])
    assert_refused(response, media_root, "file", "Blender could not import the model", "blend file")


@pytest.mark.slow
def test_obj_is_201(upload, labels, media_root):
    body = assert_stored(upload("model3d", OBJ_CUBE.encode(), name="cube.obj", label=labels["face"]), media_root)
    assert body["format"] == "obj"
    assert body["meta"]["meshes"] == 1 and body["meta"]["vertices"] == 8
    assert body["meta"]["keypoint_names"] == []
    assert body["meta"]["missing_keypoints"] == ["left_eye", "right_eye", "nose"]


def test_model_without_label_is_400(upload, media_root):
    response = upload("model3d", OBJ_CUBE.encode(), name="cube.obj")
    assert_refused(response, media_root, "label", "needs the label")


# --- cut-outs --------------------------------------------------------------------------------
def test_rgba_cutout_is_201_with_its_visible_pixels(upload, labels, media_root):
    rgba = rgba_cutout(40, 60)
    # Soft edge: alpha in 0..255 across the image, so the 128 threshold decides for some pixels.
    rgba[..., 3] = (rgba[..., 3].astype(np.uint16) * np.linspace(0, 1, 40)[None, :]).astype(np.uint8)
    expected = int(np.count_nonzero(rgba[..., 3] >= 128))
    assert 0 < expected < int(np.count_nonzero(rgba[..., 3]))
    body = assert_stored(upload("cutout", png_bytes(rgba), name="cat.png", label=labels["cat"]), media_root)
    assert body["format"] == "png" and body["label"] == labels["cat"].pk
    assert body["meta"] == {"width": 40, "height": 60, "visible_pixels": expected}


@pytest.mark.parametrize(
    "image,words",
    [
        pytest.param(rgba_cutout()[..., :3].copy(), ("alpha channel",), id="rgb-without-alpha"),
        pytest.param(np.zeros((30, 20, 4), dtype=np.uint8), ("alpha channel is empty",), id="fully-transparent"),
    ],
)
def test_unusable_cutout_is_400(upload, labels, media_root, image, words):
    response = upload("cutout", png_bytes(image), name="cat.png", label=labels["cat"])
    assert_refused(response, media_root, "file", *words)


def test_cutout_without_label_is_400(upload, media_root):
    response = upload("cutout", png_bytes(rgba_cutout()), name="cat.png")
    assert_refused(response, media_root, "label", "needs the label")


# --- size limit ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["hdri", "cutout", "background"])
def test_file_over_the_size_limit_is_400(upload, labels, media_root, settings, kind):
    data = radiance_hdr() if kind == "hdri" else png_bytes(rgba_cutout())
    settings.SYNTH_ASSET_MAX_BYTES = len(data) - 1
    response = upload(kind, data, name="big", label=labels["cat"] if kind == "cutout" else None)
    assert_refused(response, media_root, "file", "the limit is")
    settings.SYNTH_ASSET_MAX_BYTES = len(data)
    assert_stored(upload(kind, data, name="big", label=labels["cat"] if kind == "cutout" else None), media_root)
