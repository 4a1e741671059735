"""The Blender side of the renderer: one process renders one shard of scenes.

Run as ``python -m synth.render_worker <shard.json> <outdir>`` (or ``--probe <model file>`` to
check that a 3D file imports). bpy keeps one scene per process and is not thread-safe, so the
Django side never imports this module: it writes a shard file, starts this process, reads what it
writes, and can stop it between images (cancel). Django is not imported here either.

For each scene description (see :func:`synth.spec.scene_sample`) the worker writes

- ``<index>.png``: the RGB image (objects composited over the background image, if any);
- ``<index>.ids.png``: 16-bit object-index map from Cycles' object-index pass (0 = background,
  ground and anything unlabelled; ``instance`` numbers otherwise);
- ``<index>.json``: per instance its label, the box of its projected mesh vertices and its
  keypoints ``[x, y, v]`` (v = 2 visible, 1 hidden behind something, 0 outside the frame);

and prints ``RENDERED <index>`` once the three files are in place.

Keypoint convention for uploaded models: an empty, or a vertex group, whose name equals one of
the label's ``keypoint_names`` marks that keypoint (an empty at its origin, a vertex group at the
weighted centre of its vertices). Place keypoints on the surface: a point inside the mesh is
always hidden by the surface in front of it.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import sys
import time
from pathlib import Path

import bpy
import cv2
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Matrix, Vector

from synth.exr import read_exr
from synth.spec import CHARACTER_KEYPOINTS, camera_location

SENSOR_WIDTH_MM = 36.0
# A ray from the camera that hits something closer than the point by more than this fraction of
# the distance means the point is hidden.
OCCLUSION_TOLERANCE = 0.005
INDEX_CHANNEL = "ViewLayer.Object Index.X"
LIBRARY = "lensforge-library"


# --- the asset library: every model loaded once per process --------------------------------
def _library() -> bpy.types.Collection:
    lib = bpy.data.collections.get(LIBRARY)
    if lib is None:
        lib = bpy.data.collections.new(LIBRARY)
    return lib


def _mesh_object(name: str, mesh: bpy.types.Mesh, collection) -> bpy.types.Object:
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def _primitive(kind: str, **kwargs) -> bpy.types.Mesh:
    """A mesh made by Blender's primitive operators, taken out of the scene.

    ``location`` and ``rotation`` (XYZ Euler, radians) are applied to the mesh itself: the
    operators would put them on the object, which is thrown away.
    """
    location = kwargs.pop("location", (0.0, 0.0, 0.0))
    rotation = kwargs.pop("rotation", (0.0, 0.0, 0.0))
    before = set(bpy.data.objects)
    getattr(bpy.ops.mesh, f"primitive_{kind}_add")(**kwargs)
    (obj,) = set(bpy.data.objects) - before
    mesh = obj.data
    bpy.data.objects.remove(obj)
    mesh.transform(Matrix.Translation(Vector(location)) @ Euler(rotation, "XYZ").to_matrix().to_4x4())
    return mesh


def _join_meshes(name: str, parts: list[tuple[bpy.types.Mesh, Matrix]]) -> bpy.types.Mesh:
    import bmesh

    out = bmesh.new()
    for mesh, matrix in parts:
        piece = bmesh.new()
        piece.from_mesh(mesh)
        piece.transform(matrix)
        tmp = bpy.data.meshes.new("tmp")
        piece.to_mesh(tmp)
        out.from_mesh(tmp)
        bpy.data.meshes.remove(tmp)
        piece.free()
        bpy.data.meshes.remove(mesh)
    result = bpy.data.meshes.new(name)
    out.to_mesh(result)
    out.free()
    return result


def _builtin(name: str) -> list[bpy.types.Object]:
    """Objects of a built-in model, about 1 unit tall, standing on z = 0, centred on the z axis."""
    coll = bpy.data.collections.new(f"builtin:{name}")
    if name == "cube":
        mesh = _primitive("cube", size=1.0, location=(0, 0, 0.5))
    elif name == "sphere":
        mesh = _primitive("uv_sphere", radius=0.5, segments=32, ring_count=16, location=(0, 0, 0.5))
    elif name == "cylinder":
        mesh = _primitive("cylinder", radius=0.4, depth=1.0, vertices=32, location=(0, 0, 0.5))
    elif name == "torus":
        mesh = _primitive("torus", major_radius=0.4, minor_radius=0.12, location=(0, 0, 0.5), rotation=(math.pi / 2, 0, 0))
    elif name == "character":
        t = Matrix.Translation
        parts = [
            (_primitive("cylinder", radius=0.16, depth=0.6, vertices=24), t((0, 0, 0.95))),  # torso
            (_primitive("uv_sphere", radius=0.15, segments=24, ring_count=12), t((0, 0, 1.42))),  # head
            (_primitive("cylinder", radius=0.06, depth=0.62, vertices=16), t((-0.09, 0, 0.33))),  # legs
            (_primitive("cylinder", radius=0.06, depth=0.62, vertices=16), t((0.09, 0, 0.33))),
            # arms, held out sideways
            (_primitive("cylinder", radius=0.05, depth=0.5, vertices=16), t((-0.4, 0, 1.15)) @ Matrix.Rotation(math.pi / 2, 4, "Y")),
            (_primitive("cylinder", radius=0.05, depth=0.5, vertices=16), t((0.4, 0, 1.15)) @ Matrix.Rotation(math.pi / 2, 4, "Y")),
        ]
        mesh = _join_meshes("character", parts)
        # Scale to about one unit tall like the others.
        mesh.transform(Matrix.Scale(1 / 1.57, 4))
        body = _mesh_object("character", mesh, coll)
        s = 1 / 1.57
        points = {
            "nose": (0, -0.15, 1.42),  # the front of the head faces -y
            "left_hand": (-0.6, -0.05, 1.15),
            "right_hand": (0.6, -0.05, 1.15),
            "left_foot": (-0.09, -0.06, 0.04),
            "right_foot": (0.09, -0.06, 0.04),
        }
        assert tuple(points) == CHARACTER_KEYPOINTS
        for key, (x, y, z) in points.items():
            empty = bpy.data.objects.new(key, None)
            empty.location = (x * s, y * s, z * s)
            empty.parent = body
            coll.objects.link(empty)
        return list(coll.objects)
    else:
        raise ValueError(f"Unknown built-in model {name!r}.")
    _mesh_object(name, mesh, coll)
    return list(coll.objects)


def _import_file(path: str, fmt: str) -> list[bpy.types.Object]:
    """Import a model file; returns the objects it created (not linked to any scene)."""
    before = set(bpy.data.objects)
    if fmt in ("glb", "gltf"):
        bpy.ops.import_scene.gltf(filepath=path)
    elif fmt == "obj":
        bpy.ops.wm.obj_import(filepath=path)
    elif fmt == "fbx":
        bpy.ops.import_scene.fbx(filepath=path)
    elif fmt == "blend":
        with bpy.data.libraries.load(path, link=False) as (src, dst):
            dst.objects = list(src.objects)
        for obj in dst.objects:
            if obj is not None and obj.name not in bpy.context.scene.collection.objects:
                bpy.context.scene.collection.objects.link(obj)
    else:
        raise ValueError(f"Unsupported model format {fmt!r}.")
    created = [o for o in set(bpy.data.objects) - before if o.type in ("MESH", "EMPTY")]
    for obj in created:
        for coll in list(obj.users_collection):
            coll.objects.unlink(obj)
    return created


class Library:
    """Models loaded once; each scene places copies (sharing mesh data) of them."""

    def __init__(self, assets: dict[str, dict]):
        self.assets = assets
        self.loaded: dict[str, tuple[list[bpy.types.Object], Matrix]] = {}

    def objects(self, source: str) -> tuple[list[bpy.types.Object], Matrix]:
        if source not in self.loaded:
            if source.startswith("builtin:"):
                objs = _builtin(source[8:])
                self.loaded[source] = (objs, Matrix.Identity(4))
            else:
                info = self.assets[source.split(":", 1)[1]]
                objs = _import_file(info["path"], info["format"])
                if not any(o.type == "MESH" for o in objs):
                    raise ValueError(f"The model {source} holds no mesh.")
                self.loaded[source] = (objs, _normalising(objs))
        return self.loaded[source]


def _world_vertices(objs) -> np.ndarray:
    chunks = []
    for obj in objs:
        if obj.type != "MESH" or not len(obj.data.vertices):
            continue
        co = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
        obj.data.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        m = np.array(obj.matrix_world, dtype=np.float64)
        chunks.append(co @ m[:3, :3].T + m[:3, 3])
    return np.concatenate(chunks) if chunks else np.zeros((0, 3))


def _normalising(objs) -> Matrix:
    """Scale an imported model to about one unit tall, standing on z = 0 at the origin."""
    for obj in objs:  # matrix_world of unlinked objects is not evaluated; compute from parents
        obj.matrix_world = _matrix_world(obj)
    verts = _world_vertices(objs)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    size = float(max(hi - lo)) or 1.0
    centre = Vector(((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]))
    return Matrix.Scale(1.0 / size, 4) @ Matrix.Translation(-centre)


def _matrix_world(obj) -> Matrix:
    if obj.parent is None:
        return obj.matrix_basis.copy()
    return _matrix_world(obj.parent) @ obj.matrix_parent_inverse @ obj.matrix_basis


# --- building one scene ---------------------------------------------------------------------
def _clear_scene(scene) -> None:
    for obj in list(scene.collection.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for mat in list(bpy.data.materials):
        if mat.users == 0:
            bpy.data.materials.remove(mat)
    for light in list(bpy.data.lights):
        if light.users == 0:
            bpy.data.lights.remove(light)


def _material(name: str, rgb, roughness: float) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


def _jitter_material(src: bpy.types.Material, hue_shift: float, roughness: float) -> bpy.types.Material:
    """A copy of an imported material with its base colour's hue shifted and roughness set."""
    mat = src.copy()
    if mat.node_tree is None:
        return mat
    for node in [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"]:
        base = node.inputs["Base Color"]
        if base.is_linked:
            link = base.links[0]
            hue = mat.node_tree.nodes.new("ShaderNodeHueSaturation")
            hue.inputs["Hue"].default_value = (0.5 + hue_shift) % 1.0
            mat.node_tree.links.new(link.from_socket, hue.inputs["Color"])
            mat.node_tree.links.new(hue.outputs["Color"], base)
        else:
            r, g, b, a = base.default_value
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            base.default_value = (*colorsys.hsv_to_rgb((h + hue_shift) % 1.0, s, v), a)
        if not node.inputs["Roughness"].is_linked:
            node.inputs["Roughness"].default_value = roughness
    return mat


def _place(scene, library: Library, spec: dict) -> tuple[list, dict[str, bpy.types.Object]]:
    """Copies of a model's objects under one root carrying the spec's transform.

    Returns the mesh objects and the keypoint empties by name.
    """
    originals, normalise = library.objects(spec["source"])
    root = bpy.data.objects.new(f"instance-{spec['instance']}", None)
    scene.collection.objects.link(root)
    root.matrix_world = (
        Matrix.Translation(Vector(spec["location"]))
        @ Matrix.Rotation(math.radians(spec["rotation_z"]), 4, "Z")
        @ Matrix.Scale(spec["scale"], 4)
        @ normalise
    )
    copies = {}
    for obj in originals:
        copy = obj.copy()
        scene.collection.objects.link(copy)
        copies[obj] = copy
    builtin = spec["source"].startswith("builtin:")
    rgb = colorsys.hsv_to_rgb((spec["hue"] + spec["hue_jitter"]) % 1.0, 0.75, 0.8)
    meshes = []
    for obj, copy in copies.items():
        if obj.parent in copies:
            copy.parent = copies[obj.parent]
        else:
            copy.parent = root
            copy.matrix_parent_inverse = Matrix.Identity(4)
        if copy.type == "MESH":
            copy.pass_index = spec["instance"]
            meshes.append(copy)
            if not copy.data.materials:
                copy.data.materials.append(None)  # one slot on the shared mesh, filled per object
            if builtin or not any(slot.material for slot in copy.material_slots):
                mat = _material(f"m{spec['instance']}", rgb, spec["roughness"])
                for slot in copy.material_slots:
                    slot.link = "OBJECT"
                    slot.material = mat
            else:
                for slot in copy.material_slots:
                    if slot.material is not None:
                        mat = _jitter_material(slot.material, spec["hue_jitter"], spec["roughness"])
                        slot.link = "OBJECT"
                        slot.material = mat
    empties = {obj.name: copies[obj] for obj in originals if obj.type == "EMPTY"}
    return meshes, empties


def _background_image(path: str, width: int, height: int) -> np.ndarray:
    """The background resized to cover the frame, centre-cropped; BGR uint8."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"Cannot read background {path}.")
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))), interpolation=cv2.INTER_AREA)
    y0, x0 = (resized.shape[0] - height) // 2, (resized.shape[1] - width) // 2
    return resized[y0 : y0 + height, x0 : x0 + width]


def _setup_world(scene, world_spec: dict, assets: dict) -> str | None:
    """World lighting; returns the path of a background image to composite behind, if any."""
    world = scene.world or bpy.data.worlds.new("world")
    scene.world = world
    nodes, links = world.node_tree.nodes, world.node_tree.links
    for node in list(nodes):
        if node.bl_idname not in ("ShaderNodeBackground", "ShaderNodeOutputWorld"):
            nodes.remove(node)
    background = nodes.get("Background") or nodes.new("ShaderNodeBackground")
    background.inputs["Color"].default_value = (*world_spec["color"], 1.0)
    background.inputs["Strength"].default_value = world_spec.get("strength", 1.0)
    asset = assets.get(str(world_spec.get("background"))) if world_spec.get("background") is not None else None
    scene.render.film_transparent = False
    if asset and asset["kind"] == "hdri":
        env = nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(asset["path"], check_existing=True)
        links.new(env.outputs["Color"], background.inputs["Color"])
        return None
    if asset and asset["kind"] == "background":
        scene.render.film_transparent = True
        return asset["path"]
    return None


def _camera(scene, cam_spec: dict, width: int) -> bpy.types.Object:
    data = bpy.data.cameras.new("camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_WIDTH_MM
    data.lens = cam_spec["focal_length"]
    data.clip_start, data.clip_end = 0.01, 10_000
    cam = bpy.data.objects.new("camera", data)
    scene.collection.objects.link(cam)
    cam.location = Vector(camera_location(cam_spec))
    direction = Vector(cam_spec["target"]) - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    return cam


def build_scene(scene, desc: dict, library: Library, assets: dict) -> tuple[dict, str | None]:
    """Put the scene of ``desc`` in place; returns the instances and the background path."""
    _clear_scene(scene)
    scene.render.resolution_x, scene.render.resolution_y = desc["width"], desc["height"]
    scene.render.resolution_percentage = 100
    scene.cycles.samples = desc["samples"]
    scene.cycles.use_denoising = bool(desc["denoise"])
    _camera(scene, desc["camera"], desc["width"])
    background_path = _setup_world(scene, desc["world"], assets)
    for k, light_spec in enumerate(desc["lights"]):
        light = bpy.data.lights.new(f"light{k}", light_spec["type"])
        light.energy = light_spec["power"]
        light.use_temperature = True
        light.temperature = light_spec["temperature"]
        obj = bpy.data.objects.new(f"light{k}", light)
        obj.location = light_spec["location"]
        scene.collection.objects.link(obj)
    if desc.get("ground"):
        ground = _mesh_object("ground", _primitive("plane", size=200.0), scene.collection)
        ground.pass_index = 0
        if background_path:
            ground.is_shadow_catcher = True  # shadows land on the composited background
        else:
            ground.data.materials.append(_material("ground", (0.5, 0.5, 0.5), 0.9))
    instances = {}
    for spec in desc["objects"]:
        meshes, empties = _place(scene, library, spec)
        instances[spec["instance"]] = {"spec": spec, "meshes": meshes, "empties": empties}
    for spec in desc.get("occluders", []):  # explicit boxes, e.g. to hide a keypoint on purpose
        mesh = _primitive("cube", size=1.0)
        occluder = _mesh_object("occluder", mesh, scene.collection)
        occluder.location, occluder.scale = spec["location"], spec["size"]
        occluder.pass_index = 0
    bpy.context.view_layer.update()
    return instances, background_path


# --- labels ---------------------------------------------------------------------------------
def _project(scene, cam, points: np.ndarray) -> np.ndarray:
    """World points (n, 3) to pixel (x, y) and camera depth, as (n, 3)."""
    width, height = scene.render.resolution_x, scene.render.resolution_y
    out = np.empty((len(points), 3))
    for i, p in enumerate(points):
        ndc = world_to_camera_view(scene, cam, Vector(p))
        out[i] = (ndc.x * width, (1.0 - ndc.y) * height, ndc.z)
    return out


def _project_fast(scene, cam, points: np.ndarray) -> np.ndarray:
    """The same projection as :func:`_project` for many points at once (vertex boxes)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    width, height = scene.render.resolution_x, scene.render.resolution_y
    proj = np.array(cam.calc_matrix_camera(depsgraph, x=width, y=height), dtype=np.float64)
    view = np.array(cam.matrix_world.inverted(), dtype=np.float64)
    homo = np.c_[points, np.ones(len(points))] @ (proj @ view).T
    ndc = homo[:, :3] / homo[:, 3:4]
    return np.c_[(ndc[:, 0] + 1) / 2 * width, (1 - (ndc[:, 1] + 1) / 2) * height, homo[:, 3]]


def _keypoint_positions(inst: dict, names: list[str]) -> list[Vector | None]:
    positions: list[Vector | None] = []
    for name in names:
        if name in inst["empties"]:
            positions.append(inst["empties"][name].matrix_world.translation.copy())
            continue
        found = None
        for obj in inst["meshes"]:
            group = obj.vertex_groups.get(name)
            if group is None:
                continue
            total, acc = 0.0, Vector((0, 0, 0))
            for v in obj.data.vertices:
                for g in v.groups:
                    if g.group == group.index and g.weight > 0:
                        acc += (obj.matrix_world @ v.co) * g.weight
                        total += g.weight
            if total > 0:
                found = acc / total
                break
        positions.append(found)
    return positions


def _visibility(scene, cam, point: Vector, pixel: np.ndarray) -> int:
    width, height = scene.render.resolution_x, scene.render.resolution_y
    x, y, depth = pixel
    if depth <= 0 or not (0 <= x <= width and 0 <= y <= height):
        return 0
    origin = cam.matrix_world.translation
    direction = point - origin
    distance = direction.length
    depsgraph = bpy.context.evaluated_depsgraph_get()
    hit, *_ = scene.ray_cast(depsgraph, origin, direction.normalized(), distance=distance * (1 - OCCLUSION_TOLERANCE))
    return 1 if hit else 2


def labels_of_scene(scene, instances: dict, keypoint_names: dict[str, list[str]]) -> list[dict]:
    cam = scene.camera
    out = []
    for number, inst in instances.items():
        spec = inst["spec"]
        verts = _world_vertices(inst["meshes"])
        px = _project_fast(scene, cam, verts)
        item = {
            "instance": number,
            "label": spec["label"],
            "source": spec["source"],
            "projected_box": [float(px[:, 0].min()), float(px[:, 1].min()), float(px[:, 0].max()), float(px[:, 1].max())],
            "keypoints": None,
        }
        names = keypoint_names.get(str(spec["label"])) or []
        if spec["label"] is not None and names:
            points = []
            for position in _keypoint_positions(inst, names):
                if position is None:
                    points.append([0.0, 0.0, 0])
                    continue
                pixel = _project(scene, cam, np.array([position]))[0]
                v = _visibility(scene, cam, position, pixel)
                points.append([float(pixel[0]), float(pixel[1]), v] if v else [0.0, 0.0, 0])
            item["keypoints"] = points
        out.append(item)
    return out


# --- rendering ------------------------------------------------------------------------------
def _setup_render(scene, device: str, bare: bool) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    if device in ("auto", "GPU"):
        prefs = bpy.context.preferences.addons["cycles"].preferences
        for backend in ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL"):
            try:
                prefs.compute_device_type = backend
                prefs.get_devices()
            except (TypeError, ValueError):
                continue
            gpus = [d for d in prefs.devices if d.type != "CPU"]
            if gpus:
                for d in prefs.devices:
                    d.use = d.type != "CPU"
                scene.cycles.device = "GPU"
                break
    scene.cycles.use_adaptive_sampling = False
    scene.render.use_persistent_data = False
    scene.view_settings.view_transform = "Standard"
    scene.view_layers[0].use_pass_object_index = not bare
    settings = scene.render.image_settings
    settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "8"


def _save_passes(scene, path: str) -> None:
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.exr_codec = "NONE"
    settings.color_depth = "32"
    bpy.data.images["Render Result"].save_render(path, scene=scene)
    settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = "8"


def render_one(scene, desc: dict, library: Library, assets: dict, keypoint_names: dict, outdir: Path, bare: bool) -> None:
    index = desc["index"]
    instances, background_path = build_scene(scene, desc, library, assets)
    bpy.ops.render.render(write_still=False)
    rgba_path = outdir / f"{index}.rgba.png"
    bpy.data.images["Render Result"].save_render(str(rgba_path), scene=scene)
    if bare:
        return
    exr_path = outdir / f"{index}.exr"
    _save_passes(scene, str(exr_path))
    ids = np.rint(read_exr(exr_path.read_bytes())[INDEX_CHANNEL]).astype(np.uint16)
    exr_path.unlink()
    rgba = cv2.imread(str(rgba_path), cv2.IMREAD_UNCHANGED)
    rgb = rgba[:, :, :3]
    if background_path:
        alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
        back = _background_image(background_path, desc["width"], desc["height"]).astype(np.float32)
        rgb = np.clip(rgb.astype(np.float32) * alpha + back * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    cv2.imwrite(str(outdir / f"{index}.ids.png"), ids)
    cv2.imwrite(str(outdir / f"{index}.png"), rgb)
    rgba_path.unlink()
    labels = labels_of_scene(scene, instances, keypoint_names)
    (outdir / f"{index}.json").write_text(json.dumps({"scene": desc, "instances": labels}))


def render_shard(shard: dict, outdir: Path) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bare = bool(shard.get("bare"))
    _setup_render(scene, shard.get("device", "CPU"), bare)
    assets = {str(k): v for k, v in shard.get("assets", {}).items()}
    library = Library({k: v for k, v in assets.items() if v["kind"] == "model3d"})
    keypoint_names = {str(k): v for k, v in shard.get("keypoint_names", {}).items()}
    for desc in shard["scenes"]:
        # A scene may ask for the bare render (RGB only) itself: the benchmark pairs the bare and
        # the full render of each scene in one process, so both meet the same machine state.
        bare_one = bool(desc.get("bare", bare))
        scene.view_layers[0].use_pass_object_index = not bare_one
        started = time.perf_counter()
        render_one(scene, desc, library, assets, keypoint_names, outdir, bare_one)
        print(f"RENDERED {desc['index']} {time.perf_counter() - started:.4f}", flush=True)


# --- probing an uploaded model --------------------------------------------------------------
def probe(path: str, fmt: str) -> dict:
    """What a model file holds: mesh count, vertices, and the names that can mark keypoints."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    objs = _import_file(path, fmt)
    meshes = [o for o in objs if o.type == "MESH"]
    if not meshes:
        raise ValueError("The file imports but holds no mesh.")
    names = sorted({o.name for o in objs if o.type == "EMPTY"} | {g.name for o in meshes for g in o.vertex_groups})
    return {"meshes": len(meshes), "vertices": sum(len(o.data.vertices) for o in meshes), "keypoint_names": names}


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--probe":
        try:
            info = probe(argv[1], argv[2])
        except Exception as exc:  # any import failure is the file's fault; say so on stdout
            print("PROBE " + json.dumps({"ok": False, "error": str(exc)[:500]}), flush=True)
            return 1
        print("PROBE " + json.dumps({"ok": True, **info}), flush=True)
        return 0
    if len(argv) != 2:
        print("usage: python -m synth.render_worker <shard.json> <outdir> | --probe <file> <format>", file=sys.stderr)
        return 2
    outdir = Path(argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    render_shard(json.loads(Path(argv[0]).read_text()), outdir)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "0")
    sys.exit(main(sys.argv[1:]))
