"""Small builders for the synth tests: scenes, specs, cut-outs and model files made on the fly."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
from PIL import Image as PILImage

CHARACTER = ["nose", "left_hand", "right_hand", "left_foot", "right_foot"]


def scene(objects: list[dict], *, index: int = 0, size: int = 96, samples: int = 2, occluders=None, **camera) -> dict:
    cam = {"distance": 4.0, "elevation": 15.0, "azimuth": -90.0, "focal_length": 50.0, "target": [0.0, 0.0, 0.5]}
    cam.update(camera)
    desc = {
        "index": index, "seed": 0, "width": size, "height": size, "samples": samples, "denoise": False,
        "camera": cam,
        "lights": [{"type": "POINT", "location": [2.0, -3.0, 4.0], "power": 800.0, "temperature": 5500.0}],
        "world": {"color": [0.3, 0.3, 0.3], "background": None, "strength": 1.0},
        "ground": True,
        "objects": objects,
    }
    if occluders:
        desc["occluders"] = occluders
    return desc


def obj(source: str, *, instance: int = 1, label: int | None = 1, location=(0.0, 0.0, 0.0), rotation_z: float = 0.0,
        scale: float = 1.0) -> dict:
    return {"instance": instance, "source": source, "label": label, "location": list(location), "rotation_z": rotation_z,
            "scale": scale, "hue": 0.1 * instance, "hue_jitter": 0.0, "roughness": 0.5}


def blender_spec(label_id: int, **extra) -> dict:
    spec = {
        "generator": "blender", "count": 2, "resolution": [96, 96], "samples": 2, "denoise": False, "seed": 7,
        "shard_size": 1, "classes": [{"label": label_id, "assets": ["builtin:character"]}],
        "objects_per_image": [1, 1], "distractors": [0, 0], "light_count": [1, 1],
    }
    spec.update(extra)
    return spec


def png_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, "PNG")
    return out.getvalue()


def rgba_cutout(width: int = 40, height: int = 60, color=(200, 30, 30)) -> np.ndarray:
    """An RGBA image (RGB order) with an opaque ellipse and a transparent surround."""
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((xx - (width - 1) / 2) / (width / 2 - 1)) ** 2 + ((yy - (height - 1) / 2) / (height / 2 - 1)) ** 2 <= 1
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = inside * 255
    return rgba


def glb_triangle(*, corrupt_accessor: bool = False) -> bytes:
    """A minimal valid GLB holding one triangle (or one whose accessor points past its buffer)."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype="<f4").tobytes()
    gltf = {
        "asset": {"version": "2.0"},
        "scenes": [{"nodes": [0]}], "scene": 0,
        "nodes": [{"mesh": 0, "name": "tri"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "buffers": [{"byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(positions)}],
        "accessors": [{"bufferView": 0 if not corrupt_accessor else 7, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0, 0, 0], "max": [1, 1, 0]}],
    }
    text = json.dumps(gltf).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(positions), 0x004E4942) + positions
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


OBJ_CUBE = """# a cube
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
f 1 2 3 4
f 5 6 7 8
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
"""


def cutpaste_assets(project, label, user, *, background_size=(96, 72)):
    """Upload one RGBA cut-out for ``label`` and one background; returns (cutout, background) assets."""
    from synth.models import Asset
    from synth.services import asset_upload

    cutout = asset_upload(project=project, kind=Asset.Kind.CUTOUT, name="cut.png", data=png_bytes(rgba_cutout(24, 30)),
                          label=label, user=user)
    width, height = background_size
    rng = np.random.default_rng(0)
    background = asset_upload(
        project=project, kind=Asset.Kind.BACKGROUND, name="bg.png",
        data=png_bytes(rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)), label=None, user=user,
    )
    return cutout, background
