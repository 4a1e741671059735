"""Synth benchmarks: Blender pipeline overhead versus a bare render, and compositor throughput.

1. Each scene is rendered twice in one Blender process, back to back (order alternating from
   scene to scene): bare (the scene built and rendered, RGB written as PNG: what a plain bpy
   script does) and full (plus the object-index pass, EXR read-back, masks, keypoints with
   occlusion ray casts). Each full image is then stored as a worker stores it -- image check,
   instance masks as COCO RLE, boxes, keypoints, rows in a scratch SQLite database under a
   temporary folder. Ratio = (full render + storage) / bare render, summed over the scenes; the
   first pair is a warm-up (Cycles loads its kernels) and is left out. Target <= 1.25.
2. Cut-and-paste compositing at 640x480 on one core (cv2.setNumThreads(1)), per blending mode.

Usage: python bench/synth.py [--images 6] [--size 256] [--samples 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

CHARACTER = ["nose", "left_hand", "right_hand", "left_foot", "right_foot"]


def _django(data_dir: str) -> None:
    os.environ["DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _synth_job(args):
    """A scratch project with a keypoint class, and a (not queued) Blender synth job for it."""
    from django.contrib.auth import get_user_model

    from annotate import services as annotate_services
    from synth.services import synth_job_create

    user = get_user_model().objects.create_user("bench")
    project = annotate_services.project_create(name="synth bench", created_by=user)
    person = annotate_services.label_create(project=project, name="person", keypoint_names=CHARACTER)
    spec = {"generator": "blender", "count": args.images + 1, "resolution": [args.size, args.size],
            "samples": args.samples, "seed": 1, "shard_size": args.images + 1, "objects_per_image": [2, 3],
            "distractors": [1, 1], "classes": [{"label": person.pk, "assets": ["builtin:character", "builtin:torus"]}]}
    return synth_job_create(project=project, spec=spec, user=user, enqueue=False), user


def bench_render(args) -> dict:
    from annotate.models import LabelClass
    from synth.services import _store_rendered, _worker_command
    from synth.spec import scene_sample

    synth_job, user = _synth_job(args)
    scenes = []
    for i in range(args.images + 1):
        desc = scene_sample(synth_job.spec, i)
        bare = {**desc, "index": 1000 + i, "bare": True}
        scenes.extend([bare, desc] if i % 2 else [desc, bare])
    keypoints = dict(LabelClass.objects.filter(project=synth_job.project).values_list("pk", "keypoint_names"))
    with tempfile.TemporaryDirectory() as tmp:
        shard, out = Path(tmp) / "shard.json", Path(tmp) / "out"
        shard.write_text(json.dumps({"device": "CPU", "scenes": scenes,
                                     "keypoint_names": {str(k): v for k, v in keypoints.items()}}))
        proc = subprocess.run(_worker_command(shard, out), capture_output=True, text=True, cwd=ROOT, check=True)
        seconds = {int(line.split()[1]): float(line.split()[2])
                   for line in proc.stdout.splitlines() if line.startswith("RENDERED ")}
        store = {}
        for i in range(1, args.images + 1):  # image 0 is the warm-up
            started = time.perf_counter()
            _store_rendered(synth_job, out, i, user)
            store[i] = time.perf_counter() - started
    measured = range(1, args.images + 1)
    bare = sum(seconds[1000 + i] for i in measured)
    full_render = sum(seconds[i] for i in measured)
    stored = sum(store.values())
    ratio = (full_render + stored) / bare
    n = args.images
    print(f"render {n} images {args.size}x{args.size} @ {args.samples} samples, 2-3 objects + 1 distractor: "
          f"bare {bare / n * 1000:.0f} ms/image; full pipeline {full_render / n * 1000:.0f} ms render + "
          f"{stored / n * 1000:.1f} ms storage per image; ratio {ratio:.3f}")
    return {"render_bare_ms": round(bare / n * 1000, 1), "render_full_ms": round(full_render / n * 1000, 1),
            "store_ms": round(stored / n * 1000, 1), "render_ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as data_dir:
        _django(data_dir)
        result = bench_render(args)

    from synth.compositor import compose, cutout_from_rgba, fit_background

    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    background = fit_background(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), 640, 480)
    cuts = []
    for k in range(4):
        rgba = np.zeros((160, 120, 4), np.uint8)
        cv2.ellipse(rgba, (60, 80), (55, 75), 0, 0, 360, (40 * k, 200, 100, 255), -1)
        cuts.append(cutout_from_rgba(rgba, label=1))
    throughput = {}
    for mode in ("none", "gaussian", "poisson"):
        n, started = 60, time.perf_counter()
        for _ in range(n):
            compose(background, cuts, rng=rng, objects=3, scale=(0.2, 0.5), rotation=(-30, 30), truncation=(0, 0.3),
                    flip=True, blending=mode)
        throughput[mode] = n / (time.perf_counter() - started)
        print(f"compositor 640x480, 3 objects, {mode}: {throughput[mode]:.1f} images/s (one core)")
    print(json.dumps({"benchmark": "synth", **result,
                      "compositor_images_per_s": {k: round(v, 1) for k, v in throughput.items()}}))


if __name__ == "__main__":
    main()
