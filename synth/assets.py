"""Checking uploaded assets by their content, never their names.

3D models are recognised by their structure (GLB header and JSON chunk, glTF JSON with
embedded buffers, FBX binary/ASCII header, ``.blend`` magic, OBJ vertex and face records) and
then, unless ``SYNTH_PROBE_MODELS`` is off, imported by Blender in a short subprocess
(``python -m synth.render_worker --probe``) so a file that looks right but does not import is
refused at upload, with Blender's reason, instead of failing a render hours later.

HDRIs are checked before they are stored too: their header's declared size must stay under
``IMAGE_MAX_PIXELS`` before anything is decoded (a few megabytes of run-length encoded Radiance
data can declare gigabytes of float pixels), a Radiance file must decode whole, and an OpenEXR
file must hold every chunk its offset table lists (a truncated upload would otherwise only fail
when Blender loads it for a render).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings

from annotate.imaging import ImageRejected, check_image_bytes

from .exr import MAGIC as EXR_MAGIC
from .exr import read_header as exr_header

MODEL_FORMATS = ("glb", "gltf", "obj", "fbx", "blend")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def asset_max_bytes() -> int:
    return int(getattr(settings, "SYNTH_ASSET_MAX_BYTES", 200 * 1024 * 1024))


class AssetRejected(ValueError):
    """The file cannot be used as this kind of asset; the message says why."""


@dataclass(frozen=True)
class CheckedAsset:
    data: bytes
    format: str
    meta: dict


def _sniff_model(data: bytes) -> str:
    head = data[:4096]
    if head[:4] == b"glTF":
        if len(data) < 20:
            raise AssetRejected("The GLB file is truncated (no header).")
        _magic, version, length = struct.unpack_from("<4sII", data, 0)
        if version != 2:
            raise AssetRejected(f"Only glTF 2.0 is supported; this GLB declares version {version}.")
        if length != len(data):
            raise AssetRejected(
                f"The GLB header declares {length:,} bytes but the file has {len(data):,} (truncated?)."
            )
        chunk_length, chunk_type = struct.unpack_from("<II", data, 12)
        if chunk_type != 0x4E4F534A or 20 + chunk_length > len(data):
            raise AssetRejected("The GLB file's first chunk is not its JSON description.")
        try:
            gltf = json.loads(data[20 : 20 + chunk_length])
        except ValueError:
            raise AssetRejected("The GLB file's JSON chunk is not valid JSON.")
        if not isinstance(gltf, dict) or "asset" not in gltf:
            raise AssetRejected("The GLB file's JSON has no 'asset' record; it is not glTF.")
        return "glb"
    if head[:7] == b"BLENDER" or head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd":
        return "blend"  # plain, gzip- or zstd-compressed .blend; Blender's import decides
    if head.startswith(b"Kaydara FBX Binary"):
        return "fbx"
    text = head.decode("utf-8", errors="replace")
    if "FBXHeaderExtension" in text:
        return "fbx"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        try:
            gltf = json.loads(data.decode("utf-8"))
        except ValueError:
            raise AssetRejected("The file starts like glTF JSON but is not valid JSON.")
        if not isinstance(gltf, dict) or "asset" not in gltf:
            raise AssetRejected("The JSON file has no 'asset' record; it is not glTF.")
        for buffer in gltf.get("buffers", []):
            if not str(buffer.get("uri", "")).startswith("data:"):
                raise AssetRejected(
                    "The glTF file refers to external buffer files; upload a self-contained .glb instead."
                )
        return "gltf"
    try:
        body = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AssetRejected("Unsupported 3D file: not glTF/GLB, OBJ, FBX or .blend.")
    lines = [line.split(None, 1)[0] for line in body.splitlines() if line.strip() and not line.startswith("#")]
    if lines.count("v") >= 3 and lines.count("f") >= 1:
        return "obj"
    raise AssetRejected("Unsupported 3D file: not glTF/GLB, OBJ (needs 'v' and 'f' records), FBX or .blend.")


def probe_model(data: bytes, fmt: str) -> dict:
    """Import the model in a Blender subprocess; returns what it holds or raises AssetRejected."""
    timeout = int(getattr(settings, "SYNTH_PROBE_TIMEOUT", 120))
    with tempfile.TemporaryDirectory(prefix="lensforge-probe-") as tmp:
        path = Path(tmp) / f"model.{fmt}"
        path.write_bytes(data)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "synth.render_worker", "--probe", str(path), fmt],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=PROJECT_ROOT,
            )
        except subprocess.TimeoutExpired:
            raise AssetRejected(f"Blender could not import the model within {timeout} s.")
    # Blender's messages name the temporary file; the user should read about their file, not our disk.
    tmp_name = str(path)
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE "):
            report = json.loads(line[6:])
            if not report.pop("ok"):
                reason = report["error"].replace(tmp_name, "the uploaded file").strip()
                raise AssetRejected(f"Blender could not import the model: {reason}")
            return report
    reason = proc.stderr[-300:].replace(tmp_name, "the uploaded file").strip()
    raise AssetRejected(f"Blender could not import the model (exit code {proc.returncode}): {reason}")


def check_model(data: bytes) -> CheckedAsset:
    fmt = _sniff_model(data)
    meta = {"format": fmt}
    if getattr(settings, "SYNTH_PROBE_MODELS", True):
        meta.update(probe_model(data, fmt))
    return CheckedAsset(data=data, format=fmt, meta=meta)


def check_background(data: bytes) -> CheckedAsset:
    try:
        checked = check_image_bytes(data)
    except ImageRejected as exc:
        raise AssetRejected(str(exc))
    return CheckedAsset(
        data=checked.data, format=checked.extension, meta={"width": checked.width, "height": checked.height}
    )


# Rows per chunk of a scanline OpenEXR file, by compression (none, RLE, ZIPS, ZIP, PIZ, PXR24, B44,
# B44A, DWAA, DWAB).
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_EXR_NOT_PLAIN_SCANLINE = 0x200 | 0x800 | 0x1000  # tiled, deep, multi-part
_RGBE_RESOLUTION = re.compile(rb"[-+][XY] (\d+) [-+][XY] (\d+)")


def _check_pixels(kind: str, width: int, height: int) -> None:
    limit = settings.IMAGE_MAX_PIXELS
    if width * height > limit:
        raise AssetRejected(
            f"The {kind} file declares {width}x{height} = {width * height:,} pixels; the limit is {limit:,}."
        )


def _check_radiance(data: bytes) -> dict:
    end = data.find(b"\n\n", 0, 65536)
    line = data[end + 2 : data.find(b"\n", end + 2)] if end >= 0 else b""
    size = _RGBE_RESOLUTION.fullmatch(line)
    if size is None:
        raise AssetRejected("The Radiance HDR file has no resolution line after its header (damaged?).")
    height, width = int(size[1]), int(size[2])
    if line.startswith((b"-X", b"+X")):
        width, height = height, width
    _check_pixels("Radiance HDR", width, height)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise AssetRejected("The Radiance HDR file does not decode (damaged or truncated).")
    height, width = image.shape[:2]
    return {"width": width, "height": height}


def _check_openexr(data: bytes) -> dict:
    try:
        (version,) = struct.unpack_from("<I", data, 4)
        header, pos = exr_header(data, 8)
        xmin, ymin, xmax, ymax = struct.unpack("<iiii", header["dataWindow"])
    except (struct.error, ValueError, IndexError, KeyError):
        raise AssetRejected("The OpenEXR file has no readable header (damaged or truncated).")
    width, height = xmax - xmin + 1, ymax - ymin + 1
    if width < 1 or height < 1:
        raise AssetRejected(f"The OpenEXR file declares an empty data window ({width}x{height}).")
    _check_pixels("OpenEXR", width, height)
    if version & _EXR_NOT_PLAIN_SCANLINE:
        return {"width": width, "height": height}  # tiled, deep, multi-part: Blender reads them at render time
    compression = header.get("compression", b"\0")[:1] or b"\0"
    lines = _EXR_LINES_PER_CHUNK.get(compression[0])
    if lines is None:
        raise AssetRejected("The OpenEXR file uses an unknown compression.")
    chunks = -(-height // lines)
    table_end = pos + 8 * chunks
    if table_end > len(data):
        raise AssetRejected("The OpenEXR file is truncated: its offset table is incomplete.")
    offsets = np.frombuffer(data, dtype="<u8", count=chunks, offset=pos).astype(np.int64)
    if offsets.min() < table_end or offsets.max() + 8 > len(data):
        raise AssetRejected("The OpenEXR file is truncated: some chunks of scanlines are missing.")
    raw = np.frombuffer(data, np.uint8)
    sizes = np.zeros(chunks, dtype=np.int64)  # each chunk: int32 first row, int32 byte count, data
    for k in range(4):
        sizes |= raw[offsets + 4 + k].astype(np.int64) << (8 * k)
    if (offsets + 8 + sizes).max() > len(data):
        raise AssetRejected("The OpenEXR file is truncated: a chunk of scanlines is cut short.")
    return {"width": width, "height": height}


def check_hdri(data: bytes) -> CheckedAsset:
    if data[:10] == b"#?RADIANCE" or data[:6] == b"#?RGBE":
        return CheckedAsset(data=data, format="hdr", meta=_check_radiance(data))
    if data[:4] == EXR_MAGIC:
        return CheckedAsset(data=data, format="exr", meta=_check_openexr(data))
    raise AssetRejected("An HDRI must be a Radiance .hdr or an OpenEXR .exr file.")


def check_cutout(data: bytes) -> CheckedAsset:
    checked = check_background(data)
    image = cv2.imdecode(np.frombuffer(checked.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        raise AssetRejected(
            "A cut-out must be an image with an alpha channel (RGBA PNG or WebP); the alpha is its mask."
        )
    visible = int(np.count_nonzero(image[:, :, 3] >= 128))
    if visible == 0:
        raise AssetRejected("The cut-out's alpha channel is empty: nothing to paste.")
    return CheckedAsset(data=checked.data, format=checked.format, meta={**checked.meta, "visible_pixels": visible})


CHECKS = {"model3d": check_model, "background": check_background, "hdri": check_hdri, "cutout": check_cutout}


def check_asset(kind: str, data: bytes) -> CheckedAsset:
    if kind not in CHECKS:
        raise AssetRejected(f"Unknown asset kind {kind!r}; use one of {', '.join(CHECKS)}.")
    if not data:
        raise AssetRejected("The file is empty.")
    if len(data) > asset_max_bytes():
        raise AssetRejected(f"The file is {len(data):,} bytes; the limit is {asset_max_bytes():,}.")
    return CHECKS[kind](data)
